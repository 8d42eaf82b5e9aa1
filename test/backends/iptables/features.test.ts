// Golden files of the rules each kube-proxy feature renders. Each golden file was read
// against kube-proxy's proxier.go layout (chain order, comments, match order, targets).
import { describe, expect, it } from 'vitest';
import { renderRuleset } from '../../../src/backends/iptables/render.js';
import type { ServicePortEntry } from '../../../src/model/types.js';
import * as f from './feature-fixtures.js';
import { endpoint, entry, table } from './fixtures.js';
import { golden } from './golden.js';

const render4 = (...svcs: ServicePortEntry[]) => {
  const r = renderRuleset(table(...svcs), { family: 4, clusterCIDR: f.CLUSTER_CIDR });
  return r.filter + r.nat;
};

describe('iptables render: kube-proxy features (golden)', () => {
  it.each([
    ['nodeport.rules', [f.nodePort]],
    ['external-ip.rules', [f.externalIP]],
    ['loadbalancer.rules', [f.loadBalancer]],
    ['etp-local.rules', [f.etpLocal]],
    ['etp-local-no-local-endpoints.rules', [f.etpLocalNone]],
    ['itp-local.rules', [f.itpLocal, f.itpLocalNone]],
    ['multiport.rules', f.multiPort],
    ['udp.rules', [f.udp]],
    ['terminating.rules', [f.terminating]],
    ['no-endpoints.rules', [f.noEndpoints]],
  ] as const)('%s', (name, svcs) => {
    golden(name, render4(...svcs));
  });

  it('ipv6.rules: ip6tables layout, ::1 excluded from NodePorts', () => {
    const r = renderRuleset(table(f.ipv6, f.nodePort), { family: 6, clusterCIDR: '2001:db8:18::/48' });
    golden('ipv6.rules', r.filter + r.nat);
    expect(r.nat).not.toContain('198.19.');
  });

  it('--nodeport-addresses: KUBE-NODEPORTS only for the listed node addresses', () => {
    const r = renderRuleset(table(f.nodePort), { family: 4, nodePortIPs: ['198.19.200.1', '198.19.201.1'] });
    const tail = r.nat.split('\n').filter((l) => l.includes('-j KUBE-NODEPORTS'));
    expect(tail).toEqual([
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 198.19.200.1/32 -j KUBE-NODEPORTS',
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 198.19.201.1/32 -j KUBE-NODEPORTS',
    ]);
  });

  it('--masquerade-all marks all ClusterIP traffic, not only from outside the cluster CIDR', () => {
    const r = renderRuleset(table(f.nodePort), { family: 4, masqueradeAll: true, clusterCIDR: f.CLUSTER_CIDR });
    expect(r.nat).toContain('-A KUBE-SVC-');
    expect(r.nat).toMatch(/-d 198\.19\.1\.10\/32 --dport 80 -j KUBE-MARK-MASQ/);
  });

  it('drops per-endpoint comments above 1000 endpoints (large cluster mode)', () => {
    const svcs = Array.from({ length: 101 }, (_, i) =>
      entry('ns', `s${i}`, '', `198.19.${10 + (i >> 8)}.${i & 255}`, 80, Array.from({ length: 10 }, (_, j) => endpoint(`198.18.${1 + (i >> 8)}.${j + 1}`, 80 + (i & 255)))),
    );
    const { nat } = renderRuleset(table(...svcs), { family: 4 });
    expect(nat).not.toMatch(/-A KUBE-SEP-\S+ -m comment/);
    expect(nat).not.toMatch(/-A KUBE-SVC-\S+ -m comment --comment "ns\/s0 ->/);
    expect(nat).toContain('--comment "ns/s0 cluster IP"');
  });
});
