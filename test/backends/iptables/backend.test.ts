// The iptables backend against the real iptables-restore, inside a namespace of its own
// (the backend's `netns` option: every tool it runs enters that namespace).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IptablesBackend } from '../../../src/backends/iptables/index.js';
import { IptablesCli, IptablesRestoreError } from '../../../src/backends/netfilter/iptables-cli.js';
import { describeKernel } from '../../kernel-required.js';
import { createNetns, deleteNetns, newRunPrefix, nsRun } from '../../harness/netns.js';
import { endpoint, entry, table } from './fixtures.js';

describeKernel('iptables backend in a netns', () => {
  const ns = `${newRunPrefix()}-ipt`;
  beforeAll(() => createNetns(ns));
  afterAll(() => deleteNetns(ns));

  const backend = () => new IptablesBackend({ families: [4, 6], clusterCIDRs: ['198.18.0.0/16'], netns: ns });
  const seed = entry('default', 'hostnames', '', '198.19.1.175', 80, [endpoint('198.18.1.2', 9376), endpoint('198.18.1.3', 9376)]);

  it('applies, reads back, replaces stale chains, and cleans up to nothing', async () => {
    const b = backend();
    await b.sync({ table: table(seed) }, { full: true });
    expect(await b.inspect()).toEqual([{ service: 'default/hostnames', protocol: 'TCP', frontend: '198.19.1.175:80', kind: 'ClusterIP', backends: ['198.18.1.2:9376', '198.18.1.3:9376'] }]);
    const one = entry('default', 'hostnames', '', '198.19.1.175', 80, [endpoint('198.18.1.3', 9376)]);
    await b.sync({ table: table(one) }, { full: true });
    expect((await b.inspect())[0]!.backends).toEqual(['198.18.1.3:9376']);
    const save = (await nsRun(ns, 'iptables-save', ['-t', 'nat'])).stdout;
    expect(save.match(/^:KUBE-SEP-/gm)).toHaveLength(1);
    expect(save).toContain('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');

    // A new instance (another process's view) removes everything.
    await backend().cleanup();
    for (const t of ['nat', 'filter']) {
      expect((await nsRun(ns, 'iptables-save', ['-t', t])).stdout).not.toContain('KUBE-');
      expect((await nsRun(ns, 'ip6tables-save', ['-t', t])).stdout).not.toContain('KUBE-');
    }
  });

  it('reports the failing line and rule when iptables-restore rejects input, leaving rules intact', async () => {
    const b = backend();
    await b.sync({ table: table(seed) }, { full: true });
    const err = await new IptablesCli(4, undefined, ns).restore('*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j NO-SUCH-CHAIN\nCOMMIT\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IptablesRestoreError);
    expect({ line: (err as IptablesRestoreError).line, rule: (err as IptablesRestoreError).rule }).toEqual({ line: 3, rule: '-A KUBE-SERVICES -j NO-SUCH-CHAIN' });
    expect((await b.inspect())[0]!.backends).toHaveLength(2);
    await b.cleanup();
  });
});
