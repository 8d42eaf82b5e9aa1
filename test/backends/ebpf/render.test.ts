import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { render, stableSlots } from '../../../src/backends/ebpf/render.js';
import { renderText } from '../../../src/backends/ebpf/render-text.js';
import { emptyIds, emptyState, idsFromState, slotsFromState } from '../../../src/backends/ebpf/state.js';
import { ep, svc, table } from './table.js';

const VIP = '198.19.1.175';

describe('ebpf render', () => {
  it('hostnames: slot 0 counts three ready endpoints, slots point at their backends, rev_nat names the VIP', () => {
    const r = render(table(svc('hostnames', { endpoints: [ep('198.18.1.12'), ep('198.18.1.11'), ep('198.18.1.13')] })), emptyIds());
    const s0 = r.desired.services.get(`${VIP}:80/TCP#0`)!;
    expect(s0.key).toEqual({ vip: VIP, port: 80, proto: abi.PROTO_TCP, slot: 0 });
    expect(s0.value).toMatchObject({ count: 3, svcId: 1, flags: 0, backendId: 1 }); // slot 0's backend_id: the sp_id
    const slots = [1, 2, 3].map((i) => r.desired.services.get(`${VIP}:80/TCP#${i}`)!.value.backendId);
    expect(slots.map((id) => r.desired.backends.get(id)!.ip)).toEqual(['198.18.1.11', '198.18.1.12', '198.18.1.13']);
    for (const id of slots) expect(r.desired.backends.get(id)).toMatchObject({ port: 9376, proto: 6, flags: abi.BE_F_ACTIVE, spId: 1 });
    expect(r.desired.revNat.get(1)).toEqual({ vip: VIP, port: 80 });
    expect(r.frontends.get(1)).toMatchObject({ service: 'default/hostnames', kind: 'ClusterIP' });
    expect(r.desired.meta.get(1)).toEqual({ name: 'default/hostnames', kind: abi.SVC_KIND_CLUSTER_IP });
  });

  it('unready endpoints keep a backend entry (established flows) but get no slot', () => {
    const r = render(table(svc('s', { endpoints: [ep('198.18.1.11'), ep('198.18.1.12', { ready: false, serving: false })] })), emptyIds());
    expect(r.desired.services.get(`${VIP}:80/TCP#0`)!.value.count).toBe(1);
    expect(r.desired.services.has(`${VIP}:80/TCP#2`)).toBe(false);
    const flags = [...r.desired.backends.values()].map((b) => [b.ip, b.flags]);
    expect(flags).toEqual([['198.18.1.11', abi.BE_F_ACTIVE], ['198.18.1.12', 0]]);
  });

  it('falls back to serving terminating endpoints when none is ready', () => {
    const r = render(table(svc('s', { endpoints: [ep('198.18.1.11', { ready: false, terminating: true })] })), emptyIds());
    expect(r.desired.services.get(`${VIP}:80/TCP#0`)!.value.count).toBe(1);
    expect([...r.desired.backends.values()][0]!.flags).toBe(abi.BE_F_ACTIVE | abi.BE_F_TERMINATING);
  });

  it('no endpoints: slot 0 with count 0 (reject), no slots', () => {
    const r = render(table(svc('s')), emptyIds());
    expect(r.desired.services.size).toBe(1);
    expect(r.desired.services.get(`${VIP}:80/TCP#0`)!.value.count).toBe(0);
  });

  it('ClientIP affinity sets the flag and timeout', () => {
    const r = render(table(svc('s', { sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10800 }, endpoints: [ep('198.18.1.11')] })), emptyIds());
    expect(r.desired.services.get(`${VIP}:80/TCP#0`)!.value).toMatchObject({ flags: abi.SVC_F_AFFINITY, affinityTimeout: 10800 });
  });

  it('externalIPs/LB IPs/NodePorts are frontends of their own (external endpoints, flagged); SCTP is skipped with a reason', () => {
    const r = render(
      table(
        svc('s', {
          clusterIPs: [VIP, '2001:db8:19::1'], externalIPs: ['198.19.250.1'], loadBalancerIPs: ['198.19.250.2'], nodePort: 30080,
          externalTrafficPolicy: 'Local', endpoints: [ep('198.18.1.11'), ep('198.18.2.11', { nodeName: 'node-b' })],
        }),
        svc('sctp', { protocol: 'SCTP', clusterIPs: ['198.19.1.176'] }),
      ),
      emptyIds(),
    );
    expect(r.desired.services.get(`${VIP}:80/TCP#0`)!.value).toMatchObject({ count: 2, flags: 0 });
    expect(r.desired.services.get('198.19.250.1:80/TCP#0')!.value).toMatchObject({ count: 1, flags: abi.SVC_F_EXTERNAL });
    expect(r.desired.services.get('198.19.250.2:80/TCP#0')!.value).toMatchObject({ count: 1, flags: abi.SVC_F_EXTERNAL });
    // The IPv6 ClusterIP is a frontend of its own: no IPv6 endpoint, so it rejects (kube-proxy's REJECT).
    expect(r.desired.services.get('2001:db8:19::1:80/TCP#0')!.value).toMatchObject({ count: 0, flags: 0 });
    expect(r.skipped.map((s) => s.reason)).toEqual([
      expect.stringMatching(/NodePort 30080: no address known for node node-a/), expect.stringMatching(/SCTP/),
    ]);
  });

  it('NodePort: one frontend per node IPv4 address; remote endpoints flagged; Local policy without local endpoints drops', () => {
    const t = table(svc('np', { nodePort: 30080, endpoints: [ep('198.18.1.11'), ep('198.18.2.11', { nodeName: 'node-b' })] }));
    const nodes = new Map([['node-a', { name: 'node-a', addresses: ['198.19.200.1', '2001:db8::1'], podCIDRs: [] }]]);
    let r = render({ ...t, nodes }, emptyIds());
    const np = r.desired.services.get('198.19.200.1:30080/TCP#0')!.value;
    expect(np).toMatchObject({ count: 2, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_SNAT_ALL });
    expect(r.frontends.get(np.svcId)!.kind).toBe('NodePort');
    const remote = [...r.desired.backends.values()].filter((b) => b.flags & abi.BE_F_REMOTE).map((b) => b.ip);
    expect([...new Set(remote)]).toEqual(['198.18.2.11']);
    const local = table(svc('np', { nodePort: 30080, externalTrafficPolicy: 'Local', endpoints: [ep('198.18.2.11', { nodeName: 'node-b' })] }));
    r = render({ ...local, nodes }, emptyIds());
    expect(r.desired.services.get('198.19.200.1:30080/TCP#0')!.value).toMatchObject({ count: 0, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_DROP_EMPTY });
    expect(r.desired.services.get(`${VIP}:80/TCP#0`)!.value).toMatchObject({ count: 1, flags: 0 });
  });

  it('same VIP and port for TCP and UDP are two frontends', () => {
    const r = render(table(svc('dns', { port: 53, endpoints: [ep('198.18.1.11')] }), svc('dns', { port: 53, protocol: 'UDP', endpoints: [ep('198.18.1.11')] })), emptyIds());
    expect(r.desired.services.get(`${VIP}:53/TCP#0`)!.value.svcId).not.toBe(r.desired.services.get(`${VIP}:53/UDP#0`)!.value.svcId);
  });

  it('ids are stable across renders and never reused after removal', () => {
    const t1 = table(svc('s', { endpoints: [ep('198.18.1.11'), ep('198.18.1.12')] }));
    const r1 = render(t1, emptyIds());
    const r2 = render(table(svc('s', { endpoints: [ep('198.18.1.12'), ep('198.18.1.13')] })), r1.ids);
    const id = (r: typeof r1, ip: string) => [...r.desired.backends].find(([, b]) => b.ip === ip)![0];
    expect(id(r2, '198.18.1.12')).toBe(id(r1, '198.18.1.12'));
    expect(id(r2, '198.18.1.13')).toBeGreaterThan(Math.max(...r1.desired.backends.keys()));
    const r3 = render(t1, r2.ids);
    expect(id(r3, '198.18.1.11')).not.toBe(id(r1, '198.18.1.11'));
  });

  it('a restarted controller re-derives the same ids from the tables', () => {
    const t = table(svc('s', { endpoints: [ep('198.18.1.11'), ep('198.18.1.12')] }), svc('t', { clusterIPs: ['198.19.1.9'], endpoints: [ep('198.18.1.11')] }));
    const r1 = render(t, emptyIds());
    const r2 = render(t, idsFromState(r1.desired));
    expect(r2.desired).toEqual(r1.desired);
  });

  it('backends are stored once per service port and shared by its frontends', () => {
    const r = render(table(svc('s', { externalIPs: ['198.19.250.1'], nodePort: 30080, endpoints: [ep('198.18.1.11'), ep('198.18.2.11', { nodeName: 'node-b' })] })), emptyIds(), {
      view: { nodeName: 'node-a', primaryIPs: { 4: '198.19.200.1' }, addresses: ['198.19.200.1'], nodePortAddresses: ['198.19.200.1'], podCIDRs: [] },
    });
    expect(r.frontends.size).toBe(3);
    expect(r.desired.backends.size).toBe(2);
    const slotIds = (fid: string) => [1, 2].map((i) => r.desired.services.get(`${fid}#${i}`)!.value.backendId);
    expect(slotIds(`${VIP}:80/TCP`)).toEqual(slotIds('198.19.250.1:80/TCP'));
    expect(slotIds(`${VIP}:80/TCP`)).toEqual(slotIds('198.19.200.1:30080/TCP'));
    for (const b of r.desired.backends.values()) expect(b.flags & (abi.BE_F_ACTIVE | abi.BE_F_ACTIVE_EXT)).toBe(abi.BE_F_ACTIVE | abi.BE_F_ACTIVE_EXT);
  });

  it('externalTrafficPolicy Local: remote endpoints are active for the ClusterIP only', () => {
    const r = render(table(svc('s', { externalIPs: ['198.19.250.1'], externalTrafficPolicy: 'Local', endpoints: [ep('198.18.1.11'), ep('198.18.2.11', { nodeName: 'node-b' })] })), emptyIds());
    const flags = Object.fromEntries([...r.desired.backends.values()].map((b) => [b.ip, b.flags]));
    expect(flags).toEqual({ '198.18.1.11': abi.BE_F_ACTIVE | abi.BE_F_ACTIVE_EXT, '198.18.2.11': abi.BE_F_ACTIVE | abi.BE_F_REMOTE });
    expect(r.desired.services.get('198.19.250.1:80/TCP#0')!.value.count).toBe(1);
  });

  it('stable slots: a leaving endpoint is replaced by the last one, a new one is appended', () => {
    expect(stableSlots(undefined, [4, 5, 6])).toEqual([4, 5, 6]);
    expect(stableSlots([4, 5, 6, 7], [4, 6, 7])).toEqual([4, 7, 6]);
    expect(stableSlots([4, 7, 6], [4, 7, 6, 9])).toEqual([4, 7, 6, 9]);
    expect(stableSlots([4, 7], [])).toEqual([]);
    // Through render: removing the first of ten endpoints rewrites slot 1 and drops slot 10 only.
    const ten = Array.from({ length: 10 }, (_, i) => ep(`198.18.1.${11 + i}`));
    const r1 = render(table(svc('s', { endpoints: ten })), emptyIds());
    const r2 = render(table(svc('s', { endpoints: ten.slice(1) })), r1.ids, { previousSlots: (fid) => r1.parts.get('default/s/tcp')!.slots.get(fid) });
    const changed = [...r1.desired.services].filter(([k, v]) => JSON.stringify(r2.desired.services.get(k)?.value) !== JSON.stringify(v.value)).map(([k]) => k);
    expect(changed.sort()).toEqual([`${VIP}:80/TCP#0`, `${VIP}:80/TCP#1`, `${VIP}:80/TCP#10`]);
  });

  it('adopting the layout before shared backends keeps the ClusterIP\'s backend ids (its flows survive the upgrade)', () => {
    const nodes = new Map([['node-a', { name: 'node-a', addresses: ['198.19.200.1'], podCIDRs: [] }]]);
    const t = { ...table(svc('s', { nodePort: 30080, endpoints: [ep('198.18.1.11'), ep('198.18.1.12')] })), nodes };
    // What the previous version wrote: per-frontend backends (svc_id in the backend), slot 0 backend_id 0.
    const legacy = emptyState();
    const frontend = (svcId: number, vip: string, port: number, kind: number, backendIds: number[]) => {
      legacy.services.set(`${vip}:${port}/TCP#0`, { key: { vip, port, proto: 6, slot: 0 }, value: { backendId: 0, svcId, count: 2, flags: 0, affinityTimeout: 0 } });
      backendIds.forEach((id, i) => {
        legacy.services.set(`${vip}:${port}/TCP#${i + 1}`, { key: { vip, port, proto: 6, slot: i + 1 }, value: { backendId: id, svcId, count: 0, flags: 0, affinityTimeout: 0 } });
        legacy.backends.set(id, { ip: `198.18.1.${11 + i}`, port: 9376, proto: 6, flags: abi.BE_F_ACTIVE, spId: svcId });
      });
      legacy.revNat.set(svcId, { vip, port });
      legacy.meta.set(svcId, { name: 'default/s', kind });
    };
    frontend(1, VIP, 80, abi.SVC_KIND_CLUSTER_IP, [1, 2]);
    frontend(2, '198.19.200.1', 30080, abi.SVC_KIND_NODE_PORT, [3, 4]);
    const r = render(t, idsFromState(legacy), { previousSlots: (fid) => slotsFromState(legacy).get(fid) });
    expect([...r.desired.backends.keys()].sort()).toEqual([1, 2]);
    expect(r.desired.services.get(`${VIP}:80/TCP#0`)!.value).toMatchObject({ svcId: 1, backendId: 1 });
    expect(r.desired.services.get('198.19.200.1:30080/TCP#0')!.value).toMatchObject({ svcId: 2, backendId: 1 });
  });

  it('renderText lists every entry', () => {
    const text = renderText(table(svc('hostnames', { endpoints: [ep('198.18.1.11')] })));
    expect(text).toContain('# default/hostnames/TCP sp_id=1');
    expect(text).toContain('backends 1 = {ip=198.18.1.11 port=9376 proto=6 flags=active sp_id=1}');
    expect(text).toContain('# ClusterIP 198.19.1.175:80/TCP svc_id=1');
    expect(text).toContain('services {vip=198.19.1.175 dport=80 proto=6 slot=0} = {sp_id=1 count=1 svc_id=1 flags=0 affinity_timeout=0}');
    expect(text).toContain('services {vip=198.19.1.175 dport=80 proto=6 slot=1} = {backend_id=1}');
    expect(text).toContain('rev_nat 1 = {vip=198.19.1.175 port=80}');
  });
});
