// Partial syncs, canary restoration, UDP conntrack cleanup and restore failures against
// the real iptables-restore/conntrack, inside a namespace of this test's own (the
// backend's `netns` option).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IptablesBackend } from '../../../src/backends/iptables/index.js';
import { traceRuleset } from '../../../src/backends/iptables/trace.js';
import type { ServicePortChange } from '../../../src/model/types.js';
import { describeKernel } from '../../kernel-required.js';
import { createNetns, deleteNetns, newRunPrefix, nsRun } from '../../harness/netns.js';
import { endpoint, entry, table } from './fixtures.js';

describeKernel('iptables backend: partial syncs, canary, conntrack (netns)', () => {
  const ns = `${newRunPrefix()}-iptp`;
  beforeAll(() => createNetns(ns));
  afterAll(() => deleteNetns(ns));

  const sh = async (cmd: string, ...args: string[]) => (await nsRun(ns, cmd, args)).stdout;
  const seed = entry('default', 'hostnames', '', '198.19.1.175', 80, [endpoint('198.18.1.2', 9376), endpoint('198.18.1.3', 9376)]);
  const dns = entry('kube-system', 'dns', 'dns', '198.19.0.10', 53, [endpoint('198.18.1.2', 5353), endpoint('198.18.1.9', 5353)], { protocol: 'UDP' });
  const none: ServicePortChange[] = [];

  it('rewrites only changed services, restores flushed rules via the canary, cleans UDP flows', async () => {
    const b = new IptablesBackend({ families: [4], clusterCIDRs: ['198.18.0.0/16'], netns: ns });
    const stats = () => ({ ...b.lastSync[0]! });
    await b.sync({ table: table(seed, dns), changes: none }, { full: false });
    expect(stats()).toMatchObject({ full: true, servicesRewritten: 2 });

    const seed1 = { ...seed, endpoints: [endpoint('198.18.1.3', 9376)] };
    await b.sync({ table: table(seed1, dns), changes: [{ key: seed.key, previous: seed, current: seed1 }] }, { full: false });
    expect(stats()).toMatchObject({ full: false, servicesRewritten: 1, staleChains: 1 });
    expect((await sh('iptables-save', '-t', 'nat')).match(/^:KUBE-SEP-/gm)).toHaveLength(3);
    expect((await b.inspect()).map((r) => r.backends.join(',')).sort()).toEqual(['198.18.1.2:5353,198.18.1.9:5353', '198.18.1.3:9376']);

    // A UDP flow bound to an endpoint that then goes away must be flushed.
    await sh('conntrack', '-I', '-p', 'udp', '-s', '198.18.1.100', '-d', '198.19.0.10', '--sport', '40001', '--dport', '53',
      '--reply-src', '198.18.1.9', '--reply-dst', '198.18.1.100', '--reply-port-src', '5353', '--reply-port-dst', '40001', '-t', '60');
    const dns1 = { ...dns, endpoints: [endpoint('198.18.1.2', 5353)] };
    await b.sync({ table: table(seed1, dns1), changes: [{ key: dns.key, previous: dns, current: dns1 }] }, { full: false });
    expect(stats()).toMatchObject({ full: false, conntrackFilters: 1 });
    expect(await sh('conntrack', '-L', '-p', 'udp')).not.toContain('198.18.1.9');

    // Someone flushes everything (iptables -F / -X in every table): the canary is gone.
    for (const t of ['nat', 'filter', 'mangle']) {
      await sh('iptables', '-t', t, '-F');
      await sh('iptables', '-t', t, '-X');
    }
    await b.sync({ table: table(seed1, dns1), changes: none }, { full: false });
    expect(stats()).toMatchObject({ full: true });
    expect(stats().reason).toContain('KUBE-PROXY-CANARY');
    expect(await b.inspect()).toHaveLength(2);
    expect(await sh('iptables', '-t', 'nat', '-S', 'PREROUTING')).toContain('-j KUBE-SERVICES');
    const traced = traceRuleset(await sh('iptables-save'), { src: '198.18.1.100', dst: '198.19.1.175', dport: 80, proto: 'tcp', localAddresses: [] });
    expect(traced.verdict).toBe('DNAT');
    expect(traced.endpoints).toEqual([{ ip: '198.18.1.3', port: 9376, probability: 1, masquerade: false }]);
    await b.cleanup();
  });

  it('a failed restore keeps the old rules, reports the service port with the rule, and makes the next sync full', async () => {
    const b = new IptablesBackend({ families: [4], clusterCIDRs: ['198.18.0.0/16'], netns: ns });
    await b.sync({ table: table(seed), changes: none }, { full: true });
    const bad = entry('default', 'bad', '', '198.19.1.176', 80, [endpoint('198.18.1.4', 9376)], { nodePort: 70000 });
    const res = await b.sync({ table: table(seed, bad), changes: [{ key: bad.key, current: bad }] }, { full: false });
    // The same shape as every backend's partial failure: [service-port key, reason].
    expect(res.failed).toEqual([['default/bad/tcp', expect.stringMatching(/at line \d+: .*--dport 70000/)]]);
    expect((await b.inspect()).map((r) => r.service)).toEqual(['default/hostnames']);
    await b.sync({ table: table(seed), changes: [{ key: bad.key, previous: bad }] }, { full: false });
    expect(b.lastSync[0]).toMatchObject({ full: true });
    expect(b.lastSync[0]!.reason).toMatch(/failed restore/);
    await b.cleanup();
  });
});
