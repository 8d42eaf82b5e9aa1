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
import { ApiWriter } from '../../cluster/api-writer.js';
import { TestCluster } from '../../cluster/cluster.js';
import { describeCluster } from '../../cluster/describe-cluster.js';
import { netnsWithApi, type ApiRelay } from '../../cluster/relay.js';
import { eventually } from '../../harness/client.js';
import { KubeProxyProcess } from '../../harness/kube-proxy-process.js';
import { node } from '../../harness/manifests.js';
import { deleteNetns, newRunPrefix, nsRun } from '../../harness/netns.js';
import { ProxyProcess } from '../../harness/proxy-process.js';
import { inGuest } from '../../vm/guest.js';
import { OBJECT_SETS, generatedSet } from '../../fixtures/object-sets.js';

const NODE = 'node-a';
const NODE_IP = '198.19.200.1';
const CLUSTER_CIDR = '198.18.0.0/16';

/** `ipvsadm -Ln`, canonical: one block per virtual server, sorted, its real servers sorted. */
export function ipvsView(list: string): string {
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
export function ipsetView(save: string): string {
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
export function dummyAddresses(out: string): string {
  return [...out.matchAll(/\binet6? (\S+)/g)].map((m) => m[1]!).sort().join('\n');
}

function differential(peers: Parameters<Parameters<typeof describeCluster>[1]>[0]): void {
  const prefix = newRunPrefix();
  const ns = { theirs: `${prefix}-kp`, ours: `${prefix}-ours` };
  let cluster: TestCluster;
  let writer: ApiWriter;
  const relays: ApiRelay[] = [];
  let kubeProxy: KubeProxyProcess;
  let ours: ProxyProcess;

  beforeAll(async () => {
    cluster = await TestCluster.start(peers);
    writer = new ApiWriter(cluster);
    for (const n of Object.values(ns)) {
      relays.push(await netnsWithApi(cluster, n));
      // A node address on an interface of its own: kube-proxy's IPVS mode puts NodePorts on
      // the addresses of the node's interfaces, ours on the Node object's (the same here).
      await nsRun(n, 'ip', ['link', 'add', 'eth0', 'type', 'dummy']);
      await nsRun(n, 'ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0']);
      await nsRun(n, 'ip', ['link', 'set', 'eth0', 'up']);
    }
    await writer.write('node.json', [node(NODE, NODE_IP, '198.18.1.0/24', 'zone-1')]);
    const kubeconfig = await cluster.writeKubeconfig('differential');
    kubeProxy = new KubeProxyProcess({ binary: peers.kubeProxy, mode: 'ipvs', netns: ns.theirs, kubeconfig, nodeName: NODE, extraArgs: [`--cluster-cidr=${CLUSTER_CIDR}`] });
    ours = new ProxyProcess({ backend: 'ipvs', netns: ns.ours, kubeconfig, nodeName: NODE, extraArgs: ['--cluster-cidr', CLUSTER_CIDR] });
    await Promise.all([kubeProxy.start(), ours.start()]);
  }, 300_000);

  afterAll(async () => {
    await Promise.all([kubeProxy?.stop(), ours?.stop()]);
    for (const r of relays) await r.close();
    for (const n of Object.values(ns)) await deleteNetns(n);
    await cluster?.stop();
  }, 120_000);

  const view = async (n: string) => {
    const [vs, sets, addrs] = await Promise.all([
      nsRun(n, 'ipvsadm', ['-Ln']),
      nsRun(n, 'ipset', ['save']),
      nsRun(n, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0']),
    ]);
    return `# ipvsadm -Ln\n${ipvsView(vs.stdout)}\n# ipset save\n${ipsetView(sets.stdout)}\n# kube-ipvs0\n${dummyAddresses(addrs.stdout)}`;
  };

  const sets = [...Object.entries(OBJECT_SETS), ...[1, 2, 3].map((seed) => [`generated seed ${seed}`, generatedSet(seed, 200)] as const)];
  for (const [name, objects] of sets) {
    const clusterIPs = objects.flatMap((o) => ((o as { kind: string }).kind === 'Service' ? [(o as { spec: { clusterIP: string } }).spec.clusterIP] : []));
    it(`${name}: ${clusterIPs.length} Services → the same virtual servers, ipsets and kube-ipvs0 addresses`, async () => {
      await writer.clear(['node.json']);
      await writer.write('set.json', objects);
      // First our side holds every ClusterIP of the set (so an equal state below is this
      // set's, not the last one's); then both must agree once kube-proxy has synced too.
      await eventually(async () => {
        const addrs = dummyAddresses((await nsRun(ns.ours, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout);
        expect(clusterIPs.filter((ip) => !addrs.includes(`${ip}/32`))).toEqual([]);
      }, 90_000);
      await eventually(async () => expect(await view(ns.ours)).toEqual(await view(ns.theirs)), 90_000);
    }, 240_000);
  }
}

// Only in a kernel with IPVS: the guest (test/conformance/guest-kernel.test.ts runs this file
// there with the IPVS kernel tests).
if (inGuest) describeCluster('ipvs backend vs the real kube-proxy (IPVS mode): the same virtual servers, ipsets and addresses', differential);
else describe.skip('ipvs differential (skipped: runs inside the guest via test/conformance/guest-kernel.test.ts)', () => it('runs in the guest', () => undefined));
