import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { probability, renderRuleset } from '../../../src/backends/iptables/render.js';
import { endpoint, entry, table } from './fixtures.js';

const golden = (name: string, text: string) => {
  const path = new URL(`./golden/${name}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text);
  expect(text).toBe(readFileSync(path, 'utf8'));
};

const seed = entry('default', 'hostnames', '', '198.19.1.175', 80, [
  endpoint('198.18.1.2', 9376),
  endpoint('198.18.1.3', 9376),
  endpoint('198.18.1.4', 9376),
  endpoint('198.18.1.5', 9376, { ready: false, serving: false }),
]);

describe('iptables render', () => {
  it('formats probabilities as %0.10f of 1/(n-i)', () => {
    expect([0, 1].map((i) => probability(3, i))).toEqual(['0.3333333333', '0.5000000000']);
  });

  it('renders the seed service as kube-proxy lays it out (golden)', () => {
    const r = renderRuleset(table(seed), { family: 4, clusterCIDR: '198.18.0.0/16' });
    golden('seed.rules', r.filter + r.nat);
  });

  it('gives the last endpoint an unconditional jump and skips unready endpoints', () => {
    const { nat } = renderRuleset(table(seed), { family: 4 });
    const jumps = nat.split('\n').filter((l) => l.startsWith('-A KUBE-SVC-') && l.includes('-j KUBE-SEP-'));
    expect(jumps).toHaveLength(3);
    expect(jumps[0]).toContain('--probability 0.3333333333');
    expect(jumps[1]).toContain('--probability 0.5000000000');
    expect(jumps[2]).not.toContain('statistic');
    expect(nat).not.toContain('198.18.1.5');
  });

  it('rejects in filter KUBE-SERVICES when a service has no endpoints', () => {
    const r = renderRuleset(table(entry('ns', 'empty', 'http', '198.19.1.9', 80, [])), { family: 4 });
    expect(r.filter).toContain('-A KUBE-SERVICES -m comment --comment "ns/empty:http has no endpoints" -m tcp -p tcp -d 198.19.1.9/32 --dport 80 -j REJECT');
    expect(r.nat).not.toContain('KUBE-SVC-');
  });

  it('renders ClientIP affinity with -m recent (golden)', () => {
    const s = entry('default', 'sticky', '', '198.19.1.180', 80, [endpoint('198.18.1.2', 9376), endpoint('198.18.1.3', 9376)], {
      sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10 },
    });
    const r = renderRuleset(table(s), { family: 4 });
    golden('affinity.rules', r.nat);
  });

  it('masquerades everything with masqueradeAll and nothing without a cluster CIDR', () => {
    expect(renderRuleset(table(seed), { family: 4, masqueradeAll: true }).nat).toMatch(/--dport 80 -j KUBE-MARK-MASQ/);
    expect(renderRuleset(table(seed), { family: 4 }).nat).not.toMatch(/--dport 80 .*-j KUBE-MARK-MASQ/);
  });

  it('deletes stale service chains in the same transaction', () => {
    const r = renderRuleset(table(seed), { family: 4 }, ['KUBE-SVC-AAAAAAAAAAAAAAAA']);
    expect(r.nat).toContain(':KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]');
    expect(r.nat).toContain('-X KUBE-SVC-AAAAAAAAAAAAAAAA');
  });

  it('renders only the family asked for', () => {
    const v6 = entry('default', 'v6', '', '2001:db8:19::a', 80, [endpoint('2001:db8:18::2', 9376)]);
    const r6 = renderRuleset(table(seed, v6), { family: 6 });
    expect(r6.nat).toContain('-d 2001:db8:19::a/128 --dport 80');
    expect(r6.nat).toContain('--to-destination [2001:db8:18::2]:9376');
    expect(r6.nat).not.toContain('198.19.1.175');
  });

  it('skips SCTP services', () => {
    const s = entry('default', 'sctp', '', '198.19.1.181', 80, [endpoint('198.18.1.2', 9376)], { protocol: 'SCTP' });
    expect(renderRuleset(table(s), { family: 4 }).nat).not.toContain('198.19.1.181');
  });
});

describe('locateFailure', () => {
  it('names the rule on the reported line', async () => {
    const { locateFailure } = await import('../../../src/backends/netfilter/iptables-cli.js');
    const text = '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES --dport 99999\nCOMMIT\n';
    expect(locateFailure(text, "invalid port\nError occurred at line: 3\n")).toEqual({ line: 3, rule: '-A KUBE-SERVICES --dport 99999' });
  });
  it('maps a COMMIT-time missing chain back to the rule that jumps to it', async () => {
    const { locateFailure } = await import('../../../src/backends/netfilter/iptables-cli.js');
    const text = '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j NO-SUCH\nCOMMIT\n';
    expect(locateFailure(text, "Chain 'NO-SUCH' does not exist\nError occurred at line: 4\n")).toEqual({ line: 3, rule: '-A KUBE-SERVICES -j NO-SUCH' });
  });
});
