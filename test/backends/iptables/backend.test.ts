// The iptables backend against the real iptables-restore, inside a namespace of its own.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeKernel } from '../../kernel-required.js';
import { createNetns, deleteNetns, newRunPrefix, nsRun } from '../../harness/netns.js';

describeKernel('iptables backend in a netns', () => {
  const ns = `${newRunPrefix()}-ipt`;
  beforeAll(() => createNetns(ns));
  afterAll(() => deleteNetns(ns));

  // iptables acts on the caller's namespace, so the backend runs in a short script
  // started inside the test namespace (tsx loads the TypeScript sources directly).
  const runInNs = async (code: string) => {
    const r = await nsRun(ns, process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeoutMs: 60_000 });
    return r.stdout;
  };

  const prelude = `
    import { IptablesBackend } from '${new URL('../../../src/backends/iptables/index.ts', import.meta.url).pathname}';
    import { endpoint, entry, table } from '${new URL('./fixtures.ts', import.meta.url).pathname}';
    const b = new IptablesBackend({ families: [4, 6], clusterCIDRs: ['198.18.0.0/16'] });
    const seed = entry('default', 'hostnames', '', '198.19.1.175', 80, [endpoint('198.18.1.2', 9376), endpoint('198.18.1.3', 9376)]);
`;

  it('applies, reads back, replaces stale chains, and cleans up to nothing', async () => {
    const out = await runInNs(`${prelude}
      await b.sync({ table: table(seed) }, { full: true });
      console.log(JSON.stringify(await b.inspect()));
      const one = entry('default', 'hostnames', '', '198.19.1.175', 80, [endpoint('198.18.1.3', 9376)]);
      await b.sync({ table: table(one) }, { full: true });
      console.log(JSON.stringify(await b.inspect()));`);
    const [first, second] = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(first).toEqual([{ service: 'default/hostnames', protocol: 'TCP', frontend: '198.19.1.175:80', kind: 'ClusterIP', backends: ['198.18.1.2:9376', '198.18.1.3:9376'] }]);
    expect(second[0].backends).toEqual(['198.18.1.3:9376']);
    const save = (await nsRun(ns, 'iptables-save', ['-t', 'nat'])).stdout;
    expect(save.match(/^:KUBE-SEP-/gm)).toHaveLength(1);
    expect(save).toContain('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');

    await runInNs(`${prelude}\n await b.cleanup();`);
    for (const t of ['nat', 'filter']) {
      expect((await nsRun(ns, 'iptables-save', ['-t', t])).stdout).not.toContain('KUBE-');
      expect((await nsRun(ns, 'ip6tables-save', ['-t', t])).stdout).not.toContain('KUBE-');
    }
  });

  it('reports the failing line and rule when iptables-restore rejects input, leaving rules intact', async () => {
    const out = await runInNs(`${prelude}
      await b.sync({ table: table(seed) }, { full: true });
      const { IptablesCli } = await import('${new URL('../../../src/backends/iptables/iptables-cli.ts', import.meta.url).pathname}');
      try { await new IptablesCli(4).restore('*nat\\n:KUBE-SERVICES - [0:0]\\n-A KUBE-SERVICES -j NO-SUCH-CHAIN\\nCOMMIT\\n'); }
      catch (e) { console.log(JSON.stringify({ line: e.line, rule: e.rule })); }
      console.log(JSON.stringify(await b.inspect()));
      await b.cleanup();`);
    const [err, rows] = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(err).toEqual({ line: 3, rule: '-A KUBE-SERVICES -j NO-SUCH-CHAIN' });
    expect(rows[0].backends).toHaveLength(2);
  });
});
