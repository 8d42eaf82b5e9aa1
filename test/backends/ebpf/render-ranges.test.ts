// render (pure) for loadBalancerSourceRanges (lb_src_range entries, SVC_F_SRC_RANGE on the LB
// IPs only) and for localhost NodePorts (127.0.0.1 frontends, SVC_F_LOCALHOST).
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { render } from '../../../src/backends/ebpf/render.js';
import { renderText } from '../../../src/backends/ebpf/render-text.js';
import { emptyIds } from '../../../src/backends/ebpf/state.js';
import { nodePortAddressesCoverLoopback, nodeViewOf } from '../../../src/model/frontends.js';
import { ep, svc, table } from './table.js';

const LB = '198.19.250.24';
const NODE_IP = '198.19.200.1';
const nodes = new Map([['node-a', { name: 'node-a', addresses: [NODE_IP], podCIDRs: [] }]]);
const lbsr = (ranges: string[], extra: Parameters<typeof svc>[1] = {}) =>
  ({ ...table(svc('lbsr', { nodePort: 30095, loadBalancerIPs: [LB], loadBalancerSourceRanges: ranges, endpoints: [ep('198.18.1.11')], ...extra })), nodes });
const slot0 = (r: ReturnType<typeof render>, fid: string) => r.desired.services.get(`${fid}#0`)!.value;
const rangesOf = (r: ReturnType<typeof render>) => [...r.desired.srcRanges.values()].map((k) => `${k.svcId}|${k.addr}/${k.prefixlen - abi.LB_SRC_SVC_BITS}`).sort();

describe('ebpf render: loadBalancerSourceRanges', () => {
  it('flags the LoadBalancer IP only and writes one trie entry per IPv4 CIDR, its prefix counting the 32 svc_id bits', () => {
    const r = render(lbsr(['198.19.200.100/32', '198.19.99.7/24']), emptyIds());
    const lb = slot0(r, `${LB}:80/TCP`);
    expect(lb.flags & abi.SVC_F_SRC_RANGE).toBeTruthy();
    expect(slot0(r, `${NODE_IP}:30095/TCP`).flags & abi.SVC_F_SRC_RANGE).toBe(0);
    expect(slot0(r, '198.19.1.175:80/TCP').flags & abi.SVC_F_SRC_RANGE).toBe(0);
    // Host bits cleared, as the trie needs them.
    expect([...r.desired.srcRanges.values()]).toEqual([
      { prefixlen: 64, svcId: lb.svcId, addr: '198.19.200.100' },
      { prefixlen: 56, svcId: lb.svcId, addr: '198.19.99.0' },
    ]);
    expect(r.skipped).toEqual([]);
  });

  it('IPv6 ranges are skipped with the reason; only IPv6 ranges or a /0 leave the IPv4 LB IP open (per family, as kube-proxy)', () => {
    let r = render(lbsr(['2001:db8::/32', '198.19.99.0/24']), emptyIds());
    expect(rangesOf(r)).toEqual([`${slot0(r, `${LB}:80/TCP`).svcId}|198.19.99.0/24`]);
    expect(r.skipped.map((s) => s.reason)).toEqual(['loadBalancerSourceRanges[0] "2001:db8::/32": IPv6 ranges do not apply to the IPv4-only eBPF data plane']);
    r = render(lbsr(['2001:db8::/32']), emptyIds());
    expect(slot0(r, `${LB}:80/TCP`).flags & abi.SVC_F_SRC_RANGE).toBe(0);
    expect(r.desired.srcRanges.size).toBe(0);
    r = render(lbsr(['198.19.99.0/24', '0.0.0.0/0']), emptyIds());
    expect(slot0(r, `${LB}:80/TCP`).flags & abi.SVC_F_SRC_RANGE).toBe(0);
  });

  it('a bad entry is skipped with its index and narrows, never widens: a Service whose only range is bad lets nobody in', () => {
    const r = render(lbsr(['198.19.99.0/33']), emptyIds());
    expect(slot0(r, `${LB}:80/TCP`).flags & abi.SVC_F_SRC_RANGE).toBeTruthy();
    expect(r.desired.srcRanges.size).toBe(0);
    expect(r.skipped.map((s) => s.reason)).toEqual(['loadBalancerSourceRanges[0] "198.19.99.0/33": not an IPv4 CIDR, skipped (the other ranges still apply)']);
  });

  it("a range holding the node's IP also lets the LB IP itself in (the node reaching its own LB IP)", () => {
    const r = render(lbsr(['198.19.200.0/24']), emptyIds());
    const id = slot0(r, `${LB}:80/TCP`).svcId;
    expect(rangesOf(r)).toEqual([`${id}|198.19.200.0/24`, `${id}|${LB}/32`]);
  });

  it('renderText shows the ranges under their frontend', () => {
    const text = renderText(lbsr(['198.19.99.0/24']));
    expect(text).toMatch(/# LoadBalancer 198\.19\.250\.24:80\/TCP svc_id=3\n.*flags=external\|snat-all\|src-range /);
    expect(text).toContain('lb_src_range {svc_id=3 198.19.99.0/24} = {allowed=1}');
  });
});

describe('ebpf render: localhost NodePorts', () => {
  const np = (extra: Parameters<typeof svc>[1] = {}) =>
    ({ ...table(svc('np', { nodePort: 30096, endpoints: [ep('198.18.1.11'), ep('198.18.2.11', { nodeName: 'node-b' })], ...extra })), nodes });

  it('--nodeport-addresses covers 127.0.0.1 unless it is primary or CIDRs without loopback', () => {
    expect(nodePortAddressesCoverLoopback([])).toBe(true);
    expect(nodePortAddressesCoverLoopback(['all'])).toBe(true);
    expect(nodePortAddressesCoverLoopback(['127.0.0.0/8', '198.19.200.0/24'])).toBe(true);
    expect(nodePortAddressesCoverLoopback(['2001:db8::/64'])).toBe(true); // no IPv4 entry: every IPv4 address
    expect(nodePortAddressesCoverLoopback(['primary'])).toBe(false);
    expect(nodePortAddressesCoverLoopback(['198.19.200.0/24'])).toBe(false);
  });

  for (const [flag, want] of [[[], true], [['all'], true], [['primary'], false]] as const) {
    it(`--nodeport-addresses ${JSON.stringify(flag)}: 127.0.0.1:nodePort ${want ? 'present' : 'absent'}`, () => {
      const t = np();
      const r = render(t, emptyIds(), { view: nodeViewOf(t, flag), localhostNodePorts: nodePortAddressesCoverLoopback(flag) });
      expect(r.desired.services.has('127.0.0.1:30096/TCP#0')).toBe(want);
      expect(r.desired.services.has(`${NODE_IP}:30096/TCP#0`)).toBe(true);
    });
  }

  it('flagged socket-LB only, kind NodePort, not external: every cluster endpoint even under externalTrafficPolicy Local', () => {
    const r = render(np({ externalTrafficPolicy: 'Local' }), emptyIds(), { localhostNodePorts: true });
    const lo = slot0(r, '127.0.0.1:30096/TCP');
    expect(lo).toMatchObject({ count: 2, flags: abi.SVC_F_NODEPORT | abi.SVC_F_LOCALHOST });
    expect(r.frontends.get(lo.svcId)).toMatchObject({ kind: 'NodePort', vip: '127.0.0.1' });
    // The node-address NodePort keeps its Local policy: the local endpoint only.
    expect(slot0(r, `${NODE_IP}:30096/TCP`).count).toBe(1);
    expect(renderText(np(), { localhostNodePorts: true })).toContain('flags=nodeport|localhost');
  });

  it('absent when not asked for (--iptables-localhost-nodeports=false) and for Services without a NodePort', () => {
    expect(render(np(), emptyIds()).desired.services.has('127.0.0.1:30096/TCP#0')).toBe(false);
    const r = render({ ...table(svc('c', { endpoints: [ep('198.18.1.11')] })), nodes }, emptyIds(), { localhostNodePorts: true });
    expect([...r.desired.services.keys()].some((k) => k.startsWith('127.'))).toBe(false);
  });
});
