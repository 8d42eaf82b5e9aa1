// Our iptables backend against the real kube-proxy v1.37.2 in iptables mode: both run as
// node-a of the test API server, each in its own namespace, fed the same objects; their
// `iptables-save` of the KUBE-* chains (nat and filter) must be the same, chain by chain.
// Rule order is compared where it matters (per-service chains: the statistic rules and the
// endpoint order); in the dispatch chains (KUBE-SERVICES, KUBE-NODEPORTS, ...) kube-proxy
// writes services in Go map order, so there only the set of rules is compared, plus the
// NodePort jump being KUBE-SERVICES's last rule.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from '../../cluster/describe-cluster.js';
import { eventually } from '../../harness/client.js';
import { type DifferentialPair, startDifferentialPair } from '../../harness/differential-pair.js';
import { nsRun } from '../../harness/netns.js';
import { describeKernel } from '../../kernel-required.js';
import { OBJECT_SETS, generatedSet } from '../../fixtures/object-sets.js';

/**
 * Chains kube-proxy writes that we do not, and why (their jumps are left out too):
 * - KUBE-PROXY-CANARY: kube-proxy's flush detector (we check our own chains instead);
 * - KUBE-KUBELET-CANARY: kubelet's, which kube-proxy also watches.
 */
const THEIRS_ONLY = new Set(['KUBE-PROXY-CANARY', 'KUBE-KUBELET-CANARY']);
/**
 * What kube-proxy writes only to count packets for two metrics we do not export
 * (kubeproxy_iptables_ct_state_invalid_dropped_packets_total and
 * kubeproxy_iptables_localhost_nodeports_accepted_packets_total), in nfacct objects: the
 * match in KUBE-FORWARD's INVALID drop is left out, and the counting-only rule for
 * localhost NodePorts (the next rule accepts the same packets) too.
 */
const THEIRS_ONLY_MATCHES = [/ -m nfacct --nfacct-name +ct_state_invalid_dropped_pkts/];
const THEIRS_ONLY_RULES = /--nfacct-name +localhost_nps_accepted_pkts/;
/** Dispatch chains: one rule per service port, in Go map order in kube-proxy. */
const UNORDERED = new Set(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES', 'KUBE-PROXY-FIREWALL']);

/** The KUBE-* part of one family's iptables-save, canonical: `table chain` headers, then its rules. */
function kubeChains(save: string): string {
  const out: string[] = [];
  let table = '';
  const chains = new Map<string, string[]>();
  const add = (chain: string, rule: string) => {
    const key = `${table} ${chain}`;
    if (!chains.has(key)) chains.set(key, []);
    if (rule) chains.get(key)!.push(rule);
  };
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    if (table !== 'nat' && table !== 'filter') continue;
    const decl = /^:(KUBE-\S+) /.exec(line);
    if (decl && !THEIRS_ONLY.has(decl[1]!)) add(decl[1]!, '');
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (!rule) continue;
    const chain = rule[1]!;
    if (THEIRS_ONLY_RULES.test(rule[2]!)) continue;
    const spec = THEIRS_ONLY_MATCHES.reduce((x, m) => x.replace(m, ''), rule[2]!);
    if (THEIRS_ONLY.has(chain) || THEIRS_ONLY.has(/-j (\S+)/.exec(spec)?.[1] ?? '')) continue;
    // Jumps from the built-in chains into ours count too (their order among ours kept).
    if (chain.startsWith('KUBE-') || /-j KUBE-/.test(spec)) add(chain, spec);
  }
  for (const key of [...chains.keys()].sort()) {
    const rules = chains.get(key)!;
    const chain = key.split(' ')[1]!;
    out.push(`== ${key}`, ...(UNORDERED.has(chain) ? [...rules].sort() : rules));
    // kube-proxy: "this must be the last rule in this chain" (the NodePort jump).
    if (key === 'nat KUBE-SERVICES' && rules.length > 0) out.push(`   last: ${rules[rules.length - 1]}`);
  }
  return out.join('\n');
}

describeCluster('iptables backend vs the real kube-proxy (iptables mode): the same KUBE-* chains', (peers) => {
  describeKernel('iptables-save differential', () => {
    let pair: DifferentialPair;

    beforeAll(async () => {
      pair = await startDifferentialPair(peers, {
        mode: 'iptables',
        backend: 'iptables',
        addNodeAddress: async (ns, ip) => void (await nsRun(ns, 'ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo'])),
      });
    }, 120_000);

    afterAll(async () => {
      await pair?.stop();
    }, 60_000);

    const save = async (n: string) => kubeChains((await nsRun(n, 'iptables-save', [])).stdout);

    const sets = [...Object.entries(OBJECT_SETS), ...[1, 2, 3].map((seed) => [`generated seed ${seed}`, generatedSet(seed, 200)] as const)];
    for (const [name, objects] of sets) {
      it(`${name}: ${objects.filter((o) => (o as { kind: string }).kind === 'Service').length} Services → the same chains and rules`, async () => {
        const { ns, writer } = pair;
        await writer.clear(['node.json']);
        await writer.write('set.json', objects);
        // First our side holds every Service of the set (so an equal state below is this
        // set's, not the last one's); then both must agree once kube-proxy has synced too.
        const names = objects.flatMap((o) => ((o as { kind: string }).kind === 'Service' ? [(o as { metadata: { name: string } }).metadata.name] : []));
        await eventually(async () => {
          const raw = (await nsRun(ns.ours, 'iptables-save', [])).stdout;
          expect(names.filter((n) => !new RegExp(`default/${n}[: "]`).test(raw))).toEqual([]);
        }, 30_000);
        await eventually(async () => expect(await save(ns.ours)).toEqual(await save(ns.theirs)), 30_000);
      }, 90_000);
    }
  });
});
