// Runs every case against one backend in one shared topology (node + pods + client),
// with the real bpfproxy process in the node namespace. A failing case reports the
// requests it made and the backend's `inspect` output, so the cause shows without a rerun.
// The source is a manifests directory, or (source=kubernetes) the real API server: the
// cases write through it (ApiWriter) and every node's proxy watches it with --kubeconfig
// and its own --hostname-override, as a DaemonSet does.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { describeKernel } from '../kernel-required.js';
import { RequestLoop, requests } from '../harness/client.js';
import { ManifestDir, type ObjectWriter, node } from '../harness/manifests.js';
import { ApiWriter } from '../cluster/api-writer.js';
import { TestCluster } from '../cluster/cluster.js';
import { describeCluster } from '../cluster/describe-cluster.js';
import type { Peers } from '../cluster/peers.js';
import { ApiRelay } from '../cluster/relay.js';
import { newRunPrefix } from '../harness/netns.js';
import { type NodeProxy, ProxyProcess } from '../harness/proxy-process.js';
import { createCgroup, removeCgroup } from '../harness/cgroup.js';
import { argValue, snapshotNode } from '../harness/snapshot.js';
import { Topology } from '../harness/topology.js';
import { BACKENDS } from './backends.js';
import { CASES } from './cases/index.js';
import { CLIENT, CLIENT_B, CLIENT_B_IP, CLIENT_IP, EXTERNAL, EXTERNAL_HOST, NODE, NODES, PODS } from './fixtures.js';
import { type CaseResult, type Status, kernelLabel, writeResults } from './results.js';
import type { ConformanceCase, ConformanceContext, ConformanceSource } from './types.js';


const NODES_FILE = 'nodes.json';
/** One sync period (5 s) plus file-watch latency; in the qemu guest a sync itself takes
 * seconds (every tool start costs 0.3–0.7 s there), so one more sync's worth. */
const IN_GUEST = process.env.BPFPROXY_IN_GUEST === '1';
const SYNC_DEADLINE_MS = IN_GUEST ? 15_000 : 6000;
/** A bound, not a measurement: the slowest guest case (cleanup-leaves-nothing: three proxy
 * starts and two snapshots) took 41–59 s in CI under TCG, at the default 60 s limit. */
const CASE_TIMEOUT_MS = IN_GUEST ? 180_000 : 60_000;
/** Topology, pods and the proxies' first syncs; under TCG an API server takes ~30 s more
 * (measured: etcd + kube-apiserver ready in 27 s in the guest, 3–5 s on the host). */
const SETUP_TIMEOUT_MS = IN_GUEST ? 300_000 : 120_000;

/** BPFPROXY_CASES=id,id…: run only these cases (the others are not defined nor recorded);
 * for recording new cases on a slow column such as the guest's kube-proxy/ipvs. */
const SELECTED = (process.env.BPFPROXY_CASES ?? '').split(',').filter(Boolean);
export const caseSelected = (id: string): boolean => SELECTED.length === 0 || SELECTED.includes(id);

export function defineConformance(backendName: string, source: ConformanceSource = 'manifests'): void {
  if (source === 'kubernetes') describeCluster(`conformance: ${backendName} (source=kubernetes)`, (peers) => suite(backendName, source, peers));
  else suite(backendName, source);
}

function suite(backendName: string, source: ConformanceSource, peers?: Peers): void {
  const backend = BACKENDS[backendName];
  if (!backend) throw new Error(`unknown backend ${backendName}`);
  describeKernel(`conformance: ${backendName}${source === 'kubernetes' ? ' via the API server' : ''}`, () => {
    const prefix = newRunPrefix();
    const topo = new Topology(prefix);
    const results: CaseResult[] = [];
    /** One case's row of the matrix. */
    const record = (c: ConformanceCase, status: Status, ms: number, reason?: string) =>
      results.push({ case: c.id, title: c.title, backend: backendName, source, kernel: kernelLabel(), status, ...(reason !== undefined ? { reason } : {}), ms });
    const proxies = new Map<string, NodeProxy>();
    const baseline = new Map<string, Record<string, string>>();
    const cgroups = new Map<string, string>();
    let manifests: ObjectWriter;
    let workDir = '';
    let cluster: TestCluster | undefined;
    let relay: ApiRelay | undefined;
    let kubeconfig: string | undefined;

    beforeAll(async () => {
      workDir = await mkdtemp(join(tmpdir(), `${prefix}-`));
      for (const n of NODES) await topo.addNode(n.name, n.index);
      await topo.connectNodes();
      if (source === 'kubernetes') {
        cluster = await TestCluster.start(peers!);
        relay = new ApiRelay(cluster.apiPort, cluster.dir);
        await relay.open();
        for (const n of NODES) await relay.intoNetns(topo.node(n.name).ns);
        kubeconfig = await cluster.writeKubeconfig('bpfproxy');
        manifests = new ApiWriter(cluster);
      } else {
        const dir = new ManifestDir(join(workDir, 'manifests'));
        await dir.init();
        manifests = dir;
      }
      // Dual-stack nodes (IPv4 primary), as kubelet reports them: the v6 InternalIP is where
      // IPv6 NodePorts answer (kube-proxy's nodeIPs and `primary` come from the Node object).
      await manifests.write(NODES_FILE, NODES.map((n) => {
        const h = topo.node(n.name);
        return node(n.name, [h.address, h.address6], [`198.18.${n.index}.0/24`, `2001:db8:18:${n.index}::/64`], n.zone);
      }));
      for (const p of PODS) await topo.addPod(p.name, p.node, p.ip);
      await topo.addPod(CLIENT, NODE, CLIENT_IP, false);
      await topo.addPod(CLIENT_B, NODES[1].name, CLIENT_B_IP, false);
      await topo.addExternal(EXTERNAL, EXTERNAL_HOST, NODE);
      // Each node runs its own proxy on the same manifests, as a DaemonSet would.
      for (const n of NODES) {
        if (backend.nodeCgroup) cgroups.set(n.name, createCgroup(`${prefix}-${n.name}`));
        const args = backend.args(prefix, n.name, cgroups.get(n.name));
        baseline.set(n.name, await snapshotNode(topo.node(n.name).ns, argValue(args, '--bpf-pin-root'), argValue(args, '--cgroup-path')));
        const at = { netns: topo.node(n.name).ns, nodeName: n.name, extraArgs: args };
        const p = backend.reference
          ? backend.reference(peers!, { ...at, kubeconfig: kubeconfig! })
          : new ProxyProcess({ backend: backendName, ...at, ...(kubeconfig ? { kubeconfig } : { manifests: manifests.dir }) });
        proxies.set(n.name, p);
      }
      await Promise.all([...proxies.values()].map((p) => p.start()));
    }, SETUP_TIMEOUT_MS);

    afterAll(async () => {
      // Cases that never ran (setup failed) are failures in the matrix, not blanks.
      for (const c of CASES.filter((x) => caseSelected(x.id))) {
        if (!results.some((r) => r.case === c.id)) {
          record(c, 'fail', 0, 'no result: suite setup failed, or the case timed out');
        }
      }
      // In the suite's order (skips were recorded when the cases were defined).
      const order = (id: string) => CASES.findIndex((c) => c.id === id);
      writeResults(backendName, results.sort((a, b) => order(a.case) - order(b.case)), source);
      try {
        for (const p of proxies.values()) {
          await p.stop();
          await p.cleanup().catch(() => undefined);
        }
      } finally {
        await relay?.close();
        await cluster?.stop();
        await topo.destroy();
        for (const cg of cgroups.values()) await removeCgroup(cg);
        if (workDir) await rm(workDir, { recursive: true, force: true });
      }
    });

    for (const c of CASES.filter((x) => caseSelected(x.id))) {
      const reason = backend.unsupported[c.id];
      if (reason) {
        it.skip(`${c.id}: ${c.title} (not on ${backendName}: ${reason})`, () => undefined);
        record(c, 'skip', 0, reason);
        continue;
      }
      it(`${c.id}: ${c.title}`, async () => {
        const log: string[] = [];
        const loops: RequestLoop[] = [];
        const proxy = proxies.get(NODE)!;
        const client = (from?: string) => {
          const fromNode = from !== undefined && topo.nodes.has(from);
          return { ns: fromNode ? topo.node(from).ns : topo.pod(from ?? CLIENT).ns, cgroup: fromNode ? cgroups.get(from) : undefined };
        };
        const ctx: ConformanceContext = {
          topo,
          proxy,
          proxies,
          baseline,
          manifests,
          source,
          tamper: () => backend.tamper(topo.node(NODE).ns, prefix, NODE),
          ...(backend.fastPathPackets ? { fastPathPackets: (node: string) => backend.fastPathPackets!(prefix, node) } : {}),
          backend: backendName,
          log,
          syncDeadlineMs: (IN_GUEST && backend.guestSyncDeadlineMs) || SYNC_DEADLINE_MS,
          async request(target, opts = {}) {
            const { ns, cgroup } = client(opts.from);
            const r = await requests(ns, target, { ...opts, cgroup });
            log.push(`${opts.from ?? CLIENT} → ${target} ${opts.proto ?? 'tcp'}: ${r.map((x) => (x.ok ? x.body : `!${x.error}`)).join(' ')}`);
            return r;
          },
          requestLoop(target, opts = {}) {
            const { ns, cgroup } = client(opts.from);
            const loop = new RequestLoop(ns, target, { ...opts, cgroup });
            loops.push(loop);
            return loop;
          },
        };
        const t0 = Date.now();
        try {
          await c.run(ctx);
          record(c, 'pass', Date.now() - t0);
        } catch (e) {
          record(c, 'fail', Date.now() - t0, (e as Error).message.split('\n')[0]);
          let report = `\n--- requests (last 10)\n${log.slice(-10).join('\n')}`;
          for (const [node, p] of proxies) {
            const inspect = await p.inspect().catch((x: Error) => x.message);
            report += `\n--- ${node}: bpfproxy inspect\n${inspect}\n--- ${node}: bpfproxy log (last 10)\n${p.logs.slice(-10).join('\n')}`;
          }
          (e as Error).message += report;
          throw e;
        } finally {
          for (const l of loops) await l.stop().catch(() => undefined);
          await manifests.clear([NODES_FILE]);
        }
      }, CASE_TIMEOUT_MS);
    }
  });
}
