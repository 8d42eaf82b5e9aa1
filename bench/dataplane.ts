// Data-plane comparison in one run: the same client → server path with no proxy (the pod
// IP directly), through the iptables backend and through the eBPF backend (the VIP).
// Reports TCP throughput both ways (iperf3 and iperf3 -R, one established flow), new-connection rate and
// keep-alive request rate (the node client), each as a ratio to no-proxy.
//   npx tsx bench/dataplane.ts [--seconds 2] [--connections 600] [--rounds 3]
// The request rates are bounded by the node client and server (a process per request
// side), so they show the proxy's overhead only where it is large; iperf3 is the fairer
// per-packet comparison.
// Builds its own namespaces (bpt<5 hex>-…) and pins under /sys/fs/bpf/<prefix>; removes all.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requests } from '../test/harness/client.js';
import { ManifestDir, endpointSlice, node, service } from '../test/harness/manifests.js';
import { newRunPrefix, nsRun, spawnInNetns } from '../test/harness/netns.js';
import { ProxyProcess } from '../test/harness/proxy-process.js';
import { Topology } from '../test/harness/topology.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '2' }, connections: { type: 'string', default: '600' }, rounds: { type: 'string', default: '3' } },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);
const VIP = '198.19.1.175';
const POD = '198.18.1.2';

interface Result {
  mode: string;
  gbps: number;
  /** iperf3 -R: server → client, the replies' direction. */
  gbpsDown: number;
  newConnPerSec: number;
  keepAlivePerSec: number;
}


/** Median of ROUNDS measurements: one machine's noise (other load) moves single runs a lot. */
async function measure(topo: Topology, mode: string, target: string): Promise<Result> {
  const runs: Result[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await measureOnce(topo, mode, target));
  return { mode, gbps: median(runs.map((r) => r.gbps)), gbpsDown: median(runs.map((r) => r.gbpsDown)), newConnPerSec: median(runs.map((r) => r.newConnPerSec)), keepAlivePerSec: median(runs.map((r) => r.keepAlivePerSec)) };
}

async function measureOnce(topo: Topology, mode: string, target: string): Promise<Result> {
  const client = topo.pod('client').ns;
  const iperf = async (reverse: boolean) => {
    const args = ['-c', target, '-p', '5201', '-t', String(SECONDS), '-J', ...(reverse ? ['-R'] : [])];
    const j = JSON.parse((await nsRun(client, 'iperf3', args, { timeoutMs: (SECONDS + 20) * 1000 })).stdout);
    return j.end.sum_received.bits_per_second / 1e9;
  };
  const gbps = await iperf(false);
  const gbpsDown = await iperf(true);
  const rate = async (keepAlive: boolean, count: number) => {
    const t0 = performance.now();
    const r = await requests(client, `${target}:9376`.replace(`${VIP}:9376`, `${VIP}:80`), { count, keepAlive, timeoutMs: 2000 });
    const failed = r.filter((x) => !x.ok).length;
    if (failed > 0) throw new Error(`${mode}: ${failed} of ${count} requests failed`);
    return count / ((performance.now() - t0) / 1000);
  };
  return { mode, gbps, gbpsDown, newConnPerSec: await rate(false, CONNECTIONS), keepAlivePerSec: await rate(true, CONNECTIONS * 3) };
}

const prefix = newRunPrefix();
const topo = new Topology(prefix);
const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
const manifests = new ManifestDir(join(work, 'm'));
const results: Result[] = [];
try {
  await manifests.init();
  await topo.addNode('node-a', 1);
  await topo.addPod('srv', 'node-a', POD);
  await topo.addPod('client', 'node-a', '198.18.1.100', false);
  await spawnInNetns(topo.pod('srv').ns, 'iperf3', ['-s', '-p', '5201', '--forceflush'], 'Server listening');
  await manifests.write('svc.json', [
    node('node-a', topo.node('node-a').address, '198.18.1.0/24'),
    service({ name: 'bench', clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 9376 }, { name: 'iperf', port: 5201, targetPort: 5201 }] }),
    endpointSlice('bench', [{ name: 'http', port: 9376 }, { name: 'iperf', port: 5201 }], [{ ip: POD, pod: 'srv', node: 'node-a' }]),
  ]);
  await measureOnce(topo, 'warm-up', POD); // first runs pay for JIT and page cache
  results.push(await measure(topo, 'no proxy (pod IP)', POD));
  for (const backend of ['iptables', 'ebpf']) {
    const extra = backend === 'ebpf' ? ['--bpf-pin-root', `/sys/fs/bpf/${prefix}`] : ['--cluster-cidr', '198.18.0.0/16'];
    const proxy = new ProxyProcess({ backend, netns: topo.node('node-a').ns, manifests: manifests.dir, nodeName: 'node-a', extraArgs: extra });
    await proxy.start();
    try {
      results.push(await measure(topo, `${backend} (VIP)`, VIP));
    } finally {
      await proxy.stop();
      await proxy.cleanup();
    }
  }
  const base = results[0]!;
  const ratio = (v: number, b: number) => `${(v / b).toFixed(2)}×`;
  console.log(`\ndata plane, one run, median of ${ROUNDS}: ${SECONDS} s iperf3, ${CONNECTIONS} new connections, ${CONNECTIONS * 3} keep-alive requests (node client)\n`);
  console.log('mode                 up Gbit/s  ratio  down Gbit/s  ratio   new conn/s  ratio   keep-alive req/s  ratio');
  for (const r of results) {
    console.log(
      `${r.mode.padEnd(20)} ${r.gbps.toFixed(2).padStart(10)}  ${ratio(r.gbps, base.gbps).padStart(5)}  ${r.gbpsDown.toFixed(2).padStart(11)}  ${ratio(r.gbpsDown, base.gbpsDown).padStart(5)}   ${r.newConnPerSec.toFixed(0).padStart(10)}  ${ratio(r.newConnPerSec, base.newConnPerSec).padStart(5)}   ${r.keepAlivePerSec.toFixed(0).padStart(16)}  ${ratio(r.keepAlivePerSec, base.keepAlivePerSec).padStart(5)}`,
    );
  }
} finally {
  await topo.destroy();
  await rm(work, { recursive: true, force: true });
}
