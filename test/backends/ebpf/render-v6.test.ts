// IPv6 and dual-stack in the pure render/diff: the same entries as IPv4 with 16-byte
// addresses (family-maps.ts routes them to the v6 maps), each frontend balancing over the
// endpoints of its own family only.
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { diff, PHASES } from '../../../src/backends/ebpf/diff.js';
import { inspectRows } from '../../../src/backends/ebpf/index.js';
import { render } from '../../../src/backends/ebpf/render.js';
import { renderText } from '../../../src/backends/ebpf/render-text.js';
import { emptyIds, emptyState, idsFromState, slotsFromState } from '../../../src/backends/ebpf/state.js';
import { ep, svc, table } from './table.js';

const VIP4 = '198.19.1.175';
const VIP6 = '2001:db8:19::b';

describe('ebpf render: IPv6 and dual-stack', () => {
  const dual = () =>
    table(svc('six', {
      // A non-canonical spelling of the VIP and of an endpoint: the maps read back RFC 5952 text.
      clusterIPs: [VIP4, '2001:DB8:19:0:0:0:0:B'],
      endpoints: [ep('198.18.1.11'), ep('2001:db8:18:1::b'), ep('2001:0db8:0018:0002:0000:0000:0000:000b', { nodeName: 'node-b' }), ep('198.18.2.11', { nodeName: 'node-b' })],
    }));

  it('a dual-stack ClusterIP: one frontend per family, each with the endpoints of its family only', () => {
    const r = render(dual(), emptyIds());
    const s4 = r.desired.services.get(`${VIP4}:80/TCP#0`)!.value;
    const s6 = r.desired.services.get(`${VIP6}:80/TCP#0`)!.value;
    expect(s4).toMatchObject({ count: 2, flags: 0 });
    expect(s6).toMatchObject({ count: 2, flags: 0 });
    expect(s6.svcId).not.toBe(s4.svcId);
    const slotIps = (vip: string, n: number) => Array.from({ length: n }, (_, i) => r.desired.backends.get(r.desired.services.get(`${vip}:80/TCP#${i + 1}`)!.value.backendId)!.ip);
    expect(slotIps(VIP4, 2)).toEqual(['198.18.1.11', '198.18.2.11']);
    expect(slotIps(VIP6, 2)).toEqual(['2001:db8:18:1::b', '2001:db8:18:2::b']);
    // One allocator for both families: four distinct backend ids, one service port.
    expect(new Set(r.desired.backends.keys()).size).toBe(4);
    expect(new Set([...r.desired.backends.values()].map((b) => b.spId))).toEqual(new Set([s4.backendId]));
    expect(r.desired.services.get(`${VIP6}:80/TCP#0`)!.key).toEqual({ vip: VIP6, port: 80, proto: abi.PROTO_TCP, slot: 0 });
    expect(r.desired.revNat.get(s6.svcId)).toEqual({ vip: VIP6, port: 80 });
    const remote = [...r.desired.backends.values()].filter((b) => b.flags & abi.BE_F_REMOTE).map((b) => b.ip).sort();
    expect(remote).toEqual(['198.18.2.11', '2001:db8:18:2::b']);
    expect(r.skipped).toEqual([]);
    // Every value encodes in its family's layout (what family-maps.ts writes).
    expect(abi.svc6Key.encode(r.desired.services.get(`${VIP6}:80/TCP#1`)!.key).length).toBe(24);
  });

  it('NodePort on the node\'s IPv6 address, ClientIP affinity, eTP Local: flags as for IPv4', () => {
    const t = table(svc('np', {
      clusterIPs: [VIP6], nodePort: 30080, externalTrafficPolicy: 'Local', sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
      endpoints: [ep('2001:db8:18:1::b'), ep('2001:db8:18:2::b', { nodeName: 'node-b' })],
    }));
    const nodes = new Map([['node-a', { name: 'node-a', addresses: ['198.19.200.1', '2001:db8:19:200::1'], podCIDRs: [] }]]);
    const r = render({ ...t, nodes }, emptyIds());
    const np6 = r.desired.services.get('2001:db8:19:200::1:30080/TCP#0')!.value;
    expect(np6).toMatchObject({ count: 1, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_AFFINITY, affinityTimeout: 60 });
    expect(r.desired.backends.get(r.desired.services.get('2001:db8:19:200::1:30080/TCP#1')!.value.backendId)!.ip).toBe('2001:db8:18:1::b');
    // The IPv4 NodePort: no IPv4 endpoint at all → reject (kube-proxy's IPv4 proxier sees no endpoints).
    expect(r.desired.services.get('198.19.200.1:30080/TCP#0')!.value).toMatchObject({ count: 0, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_AFFINITY });
    // With a remote IPv4 endpoint, the IPv4 NodePort has endpoints but none local → drop; the
    // IPv6 one still serves its local endpoint.
    const t2 = table(svc('np', { ...t.services.values().next().value!, endpoints: [...t.services.values().next().value!.endpoints, ep('198.18.2.11', { nodeName: 'node-b' })] }));
    const r2 = render({ ...t2, nodes }, emptyIds());
    expect(r2.desired.services.get('198.19.200.1:30080/TCP#0')!.value).toMatchObject({ count: 0, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_AFFINITY | abi.SVC_F_DROP_EMPTY });
    expect(r2.desired.services.get('2001:db8:19:200::1:30080/TCP#0')!.value.count).toBe(1);
  });

  it('an IPv6 LB IP of a Service with loadBalancerSourceRanges is not served (ranges are IPv4-only), with a reason; the IPv4 one is restricted', () => {
    const r = render(table(svc('lb', {
      loadBalancerIPs: ['198.19.250.2', '2001:db8:19:250::2'], loadBalancerSourceRanges: ['198.19.200.0/24'], endpoints: [ep('198.18.1.11'), ep('2001:db8:18:1::b')],
    })), emptyIds());
    expect(r.desired.services.get('198.19.250.2:80/TCP#0')!.value.flags & abi.SVC_F_SRC_RANGE).toBe(abi.SVC_F_SRC_RANGE);
    expect([...r.desired.services.keys()].some((k) => k.startsWith('2001:db8:19:250::2'))).toBe(false);
    expect(r.skipped.map((s) => s.reason)).toEqual([expect.stringMatching(/LoadBalancer 2001:db8:19:250::2: loadBalancerSourceRanges are not enforced for IPv6/)]);
  });

  it('render text names the IPv6 maps; inspect shows [address]:port', () => {
    const text = renderText(dual());
    expect(text).toContain('# ClusterIP [2001:db8:19::b]:80/TCP svc_id=2');
    expect(text).toContain('services6 {vip=2001:db8:19::b dport=80 proto=6 slot=0} = {sp_id=1 count=2 svc_id=2 flags=0 affinity_timeout=0}');
    expect(text).toMatch(/^backends6 \d+ = \{ip=2001:db8:18:1::b port=9376 proto=6 flags=active sp_id=1\}$/m);
    expect(text).toContain('rev_nat6 2 = {vip=2001:db8:19::b port=80}');
    expect(text).toContain('services {vip=198.19.1.175 dport=80 proto=6 slot=0}');
    const rows = inspectRows(render(dual(), emptyIds()).desired);
    expect(rows.find((r) => r.frontend.startsWith('['))).toMatchObject({ frontend: '[2001:db8:19::b]:80', backends: ['[2001:db8:18:1::b]:9376', '[2001:db8:18:2::b]:9376'] });
  });

  it('a bad endpoint address is a located problem; the others are programmed', () => {
    const r = render(table(svc('bad', { clusterIPs: [VIP6], endpoints: [ep('2001:db8:18:1::b'), ep('2001:db8::zz')] })), emptyIds());
    expect(r.desired.services.get(`${VIP6}:80/TCP#0`)!.value.count).toBe(1);
    expect(r.skipped).toEqual([{ service: 'default/bad', reason: 'endpoint "2001:db8::zz": not an IP address' }]);
  });

  it('diff writes v6 entries in the same order as v4 (backends, rev_nat, slots, slot 0), and a restart adopts their ids and slots', () => {
    const r = render(dual(), emptyIds());
    const ops = diff(emptyState(), r.desired);
    const v6ops = ops.filter((o) => (o.map === 'services' && o.key.vip.includes(':')) || (o.map === 'backends' && o.kind === 'upsert' && o.value.ip.includes(':')) || (o.map === 'rev_nat' && o.kind === 'upsert' && o.value.vip.includes(':')));
    expect(v6ops.map((o) => PHASES[o.phase])).toEqual(['upsert backends', 'upsert backends', 'upsert rev_nat', 'upsert slots', 'upsert slots', 'upsert slot 0']);
    // Adoption: what the kernel holds gives back the same ids and slot order, so a
    // re-render against it is a no-op.
    const ids = idsFromState(r.desired);
    expect(ids.svc.get(`${VIP6}:80/TCP`)).toBe(r.desired.services.get(`${VIP6}:80/TCP#0`)!.value.svcId);
    const slots = slotsFromState(r.desired);
    const again = render(dual(), ids, { previousSlots: (fid) => slots.get(fid) });
    expect(diff(r.desired, again.desired)).toEqual([]);
  });
});
