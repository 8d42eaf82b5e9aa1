// Partial syncs, canary restoration, UDP conntrack cleanup and restore failures against
// the real iptables-restore/conntrack, inside a namespace of this test's own.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeKernel } from '../../kernel-required.js';
import { createNetns, deleteNetns, newRunPrefix, nsRun } from '../../harness/netns.js';

describeKernel('iptables backend: partial syncs, canary, conntrack (netns)', () => {
  const ns = `${newRunPrefix()}-iptp`;
  beforeAll(() => createNetns(ns));
  afterAll(() => deleteNetns(ns));

  const src = (p: string) => new URL(p, import.meta.url).pathname;
  // The backend acts on the caller's namespace, so the scenario runs as a script inside it.
  const runInNs = async (code: string) => {
    const r = await nsRun(ns, process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeoutMs: 90_000 });
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  };
  const prelude = `
    import { execFileSync } from 'node:child_process';
    import { IptablesBackend } from '${src('../../../src/backends/iptables/index.ts')}';
    import { traceRuleset } from '${src('../../../src/backends/iptables/trace.ts')}';
    import { endpoint, entry, table } from '${src('./fixtures.ts')}';
    const b = new IptablesBackend({ families: [4], clusterCIDRs: ['198.18.0.0/16'] });
    const sh = (cmd, ...args) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const out = (x) => console.log(JSON.stringify(x));
    const seed = entry('default', 'hostnames', '', '198.19.1.175', 80, [endpoint('198.18.1.2', 9376), endpoint('198.18.1.3', 9376)]);
    const dns = entry('kube-system', 'dns', 'dns', '198.19.0.10', 53, [endpoint('198.18.1.2', 5353), endpoint('198.18.1.9', 5353)], { protocol: 'UDP' });
    const none = [];
    const stats = () => ({ ...b.lastSync[0] });`;

  it('rewrites only changed services, restores flushed rules via the canary, cleans UDP flows', async () => {
    const [first, partial, afterPartial, ct, canary, afterCanary, traced] = await runInNs(`${prelude}
      await b.sync({ table: table(seed, dns), changes: none }, { full: false });
      out(stats());
      const seed1 = { ...seed, endpoints: [endpoint('198.18.1.3', 9376)] };
      await b.sync({ table: table(seed1, dns), changes: [{ key: seed.key, previous: seed, current: seed1 }] }, { full: false });
      out(stats());
      out({ sep: (sh('iptables-save', '-t', 'nat').match(/^:KUBE-SEP-/gm) ?? []).length, rows: await b.inspect() });
      // A UDP flow bound to an endpoint that then goes away must be flushed.
      sh('conntrack', '-I', '-p', 'udp', '-s', '198.18.1.100', '-d', '198.19.0.10', '--sport', '40001', '--dport', '53',
         '--reply-src', '198.18.1.9', '--reply-dst', '198.18.1.100', '--reply-port-src', '5353', '--reply-port-dst', '40001', '-t', '60');
      const dns1 = { ...dns, endpoints: [endpoint('198.18.1.2', 5353)] };
      await b.sync({ table: table(seed1, dns1), changes: [{ key: dns.key, previous: dns, current: dns1 }] }, { full: false });
      out({ ...stats(), left: sh('conntrack', '-L', '-p', 'udp') });
      // Someone flushes everything (iptables -F / -X in every table): the canary is gone.
      for (const t of ['nat', 'filter', 'mangle']) { sh('iptables', '-t', t, '-F'); sh('iptables', '-t', t, '-X'); }
      await b.sync({ table: table(seed1, dns1), changes: none }, { full: false });
      out(stats());
      out({ rows: await b.inspect(), prerouting: sh('iptables', '-t', 'nat', '-S', 'PREROUTING') });
      out(traceRuleset(sh('iptables-save'), { src: '198.18.1.100', dst: '198.19.1.175', dport: 80, proto: 'tcp', localAddresses: [] }));
      await b.cleanup();`);
    expect(first).toMatchObject({ full: true, servicesRewritten: 2 });
    expect(partial).toMatchObject({ full: false, servicesRewritten: 1, staleChains: 1 });
    expect(afterPartial.sep).toBe(3);
    const backends = afterPartial.rows.map((r: { backends: string[] }) => r.backends.join(',')).sort();
    expect(backends).toEqual(['198.18.1.2:5353,198.18.1.9:5353', '198.18.1.3:9376']);
    expect(ct).toMatchObject({ full: false, conntrackFilters: 1 });
    expect(ct.left).not.toContain('198.18.1.9');
    expect(canary).toMatchObject({ full: true });
    expect(canary.reason).toContain('KUBE-PROXY-CANARY');
    expect(afterCanary.rows).toHaveLength(2);
    expect(afterCanary.prerouting).toContain('-j KUBE-SERVICES');
    expect(traced.verdict).toBe('DNAT');
    expect(traced.endpoints).toEqual([{ ip: '198.18.1.3', port: 9376, probability: 1, masquerade: false }]);
  });

  it('a failed restore keeps the old rules, reports the service port with the rule, and makes the next sync full', async () => {
    const [res, rows, next] = await runInNs(`${prelude}
      await b.sync({ table: table(seed), changes: none }, { full: true });
      const bad = entry('default', 'bad', '', '198.19.1.176', 80, [endpoint('198.18.1.4', 9376)], { nodePort: 70000 });
      out(await b.sync({ table: table(seed, bad), changes: [{ key: bad.key, current: bad }] }, { full: false }));
      out(await b.inspect());
      await b.sync({ table: table(seed), changes: [{ key: bad.key, previous: bad }] }, { full: false });
      out(stats());
      await b.cleanup();`);
    // The same shape as every backend's partial failure: [service-port key, reason].
    expect(res.failed).toEqual([['default/bad/tcp', expect.stringMatching(/at line \d+: .*--dport 70000/)]]);
    expect(rows.map((r: { service: string }) => r.service)).toEqual(['default/hostnames']);
    expect(next).toMatchObject({ full: true });
    expect(next.reason).toMatch(/failed restore/);
  });
});
