// Our IPVS backend against the real kube-proxy v1.37.2 in IPVS mode, in the guest kernel
// (the only one here with IPVS): both run as node-a of one API server, each in its own
// namespace with the node address on a dummy eth0, fed the same objects. Three views of
// what they programmed must be the same:
//   - the virtual servers (`ipvsadm -Ln`): address, scheduler, persistence, and each one's
//     real servers with their forwarding method and weight (connection counters dropped);
//   - the ipsets (`ipset save`): names, types, families and members;
//   - the addresses on kube-ipvs0.
// Orders are kube-proxy's Go map order, so each view is compared sorted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCluster } from '../../cluster/describe-cluster.js';
import type { Peers } from '../../cluster/peers.js';
import { eventually } from '../../harness/client.js';
import { type DifferentialPair, startDifferentialPair } from '../../harness/differential-pair.js';
import { nsRun } from '../../harness/netns.js';
import { inGuest } from '../../vm/guest.js';
import { OBJECT_SETS, generatedSet } from '../../fixtures/object-sets.js';

/**
 * Services per generated set: 40 here, not the iptables differential's 200. kube-proxy's IPVS
 * mode adds and deletes ipset members one `ipset` run each, about 0.5 s apiece under TCG, so
 * switching between two sets of 200 Services (~1000 members) takes it many minutes in the
 * guest; 40 still mix every feature the generator has.
 */
const GENERATED_SERVICES = 40;
/** How long each side may take to hold one set (kube-proxy syncs take 8–13 s there, and more with many members). */
const CONVERGE_MS = 180_000;

/** `ipvsadm -Ln`, canonical: one block per virtual server, sorted, its real servers sorted. */
function ipvsView(list: string): string {
  const blocks: string[][] = [];
  for (const line of list.split('\n')) {
    const vs = /^(TCP|UDP|SCTP)\s+(\S+)\s+(.*)$/.exec(line);
    if (vs) blocks.push([`${vs[1]} ${vs[2]} ${vs[3]!.trim().replace(/\s+/g, ' ')}`]);
    // "  -> 198.18.1.2:9376   Masq  1  0  0": address, method, weight (not the counters).
    const rs = /^\s+->\s+(\S+)\s+(\S+)\s+(\d+)\s+\d+\s+\d+/.exec(line);
    if (rs && blocks.length > 0) blocks[blocks.length - 1]!.push(`  -> ${rs[1]} ${rs[2]} ${rs[3]}`);
  }
  return blocks
    .map(([vs, ...rss]) => [vs, ...rss.sort()].join('\n'))
    .sort()
    .join('\n');
}

/** `ipset save`, canonical: each KUBE-* set's create line, then its members sorted. */
function ipsetView(save: string): string {
  const sets = new Map<string, { create: string; members: string[] }>();
  for (const line of save.split('\n')) {
    const create = /^create (KUBE-\S+) (.*)$/.exec(line);
    if (create) sets.set(create[1]!, { create: createLine(create[1]!, create[2]!), members: [] });
    const add = /^add (KUBE-\S+) (\S+)/.exec(line);
    if (add) sets.get(add[1]!)?.members.push(add[2]!);
  }
  return [...sets.keys()]
    .sort()
    .flatMap((name) => [sets.get(name)!.create, ...sets.get(name)!.members.sort().map((m) => `  ${m}`)])
    .join('\n');
}

/** A set's type and family. Sizes (hashsize, maxelem, memory, references) are tuning, not behaviour. */
function createLine(name: string, rest: string): string {
  const [type] = rest.split(' ');
  const family = / family (\S+)/.exec(rest)?.[1] ?? '';
  return `${name} ${type}${family ? ` family ${family}` : ''}`;
}

/** The addresses on kube-ipvs0 (`ip -o addr show dev kube-ipvs0`), sorted. */
function dummyAddresses(out: string): string {
  return [...out.matchAll(/\binet6? (\S+)/g)].map((m) => m[1]!).sort().join('\n');
}

function differential(peers: Peers): void {
  let pair: DifferentialPair;

  beforeAll(async () => {
    pair = await startDifferentialPair(peers, {
      mode: 'ipvs',
      backend: 'ipvs',
      // A node address on an interface of its own: kube-proxy's IPVS mode puts NodePorts on
      // the addresses of the node's interfaces, ours on the Node object's (the same here).
      async addNodeAddress(ns, ip) {
        await nsRun(ns, 'ip', ['link', 'add', 'eth0', 'type', 'dummy']);
        await nsRun(ns, 'ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
        await nsRun(ns, 'ip', ['link', 'set', 'eth0', 'up']);
      },
    });
  }, 300_000);

  afterAll(async () => {
    // How long kube-proxy's syncs took here (the suite's guest sync deadline rests on it).
    console.log(pair?.kubeProxy.logs.filter((l) => /syncProxyRules complete/i.test(l)).slice(-8).join('\n'));
    await pair?.stop();
  }, 120_000);

  const view = async (n: string) => {
    const [vs, sets, addrs] = await Promise.all([
      nsRun(n, 'ipvsadm', ['-Ln']),
      nsRun(n, 'ipset', ['save']),
      nsRun(n, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0']),
    ]);
    return `# ipvsadm -Ln\n${ipvsView(vs.stdout)}\n# ipset save\n${ipsetView(sets.stdout)}\n# kube-ipvs0\n${dummyAddresses(addrs.stdout)}`;
  };

  const sets = [...Object.entries(OBJECT_SETS), ...[1, 2, 3].map((seed) => [`generated seed ${seed}`, generatedSet(seed, GENERATED_SERVICES)] as const)];
  for (const [name, objects] of sets) {
    const clusterIPs = objects.flatMap((o) => ((o as { kind: string }).kind === 'Service' ? [(o as { spec: { clusterIP: string } }).spec.clusterIP] : []));
    it(`${name}: ${clusterIPs.length} Services → the same virtual servers, ipsets and kube-ipvs0 addresses`, async () => {
      const { ns, writer } = pair;
      await writer.clear(['node.json']);
      await writer.write('set.json', objects);
      // First our side holds every ClusterIP of the set (so an equal state below is this
      // set's, not the last one's); then both must agree once kube-proxy has synced too.
      await eventually(async () => {
        const addrs = dummyAddresses((await nsRun(ns.ours, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout);
        expect(clusterIPs.filter((ip) => !addrs.includes(`${ip}/32`))).toEqual([]);
      }, CONVERGE_MS);
      await eventually(async () => expect(await view(ns.ours)).toEqual(await view(ns.theirs)), CONVERGE_MS);
    }, 2 * CONVERGE_MS + 60_000);
  }
}

// Only in a kernel with IPVS: the guest (test/conformance/guest-kernel.test.ts runs this file
// there with the IPVS kernel tests).
if (inGuest) describeCluster('ipvs backend vs the real kube-proxy (IPVS mode): the same virtual servers, ipsets and addresses', differential);
else describe.skip('ipvs differential (skipped: runs inside the guest via test/conformance/guest-kernel.test.ts)', () => it('runs in the guest', () => undefined));
