// `make bench`: every mode side by side on this machine, one command. For each scale (1, 1k,
// 10k and 30k services × 10 endpoints, the measured service installed last) and each round,
// each mode runs on a FRESH topology (no TIME_WAIT or conntrack state carried from the
// previous mode), the order reversed every other round: no proxy (pod IP), bpfproxy ebpf
// (default: socket LB + tc; and tc alone) and iptables, the real kube-proxy in iptables and
// nftables mode, all reading the same objects from the real API server (test/cluster) with
// production sync settings (30k: one round, no proxy and ebpf only, from a manifests
// directory: see LARGE). Load is real: nginx in the server pod, wrk / curl / iperf3 in the
// client pod. Then the north-south XDP packet rate beside tc (bench/lib/xdp-pps.ts), the control plane (network programming latency
// from each proxy's own metric, RSS), the ebpf backend's in-process control-plane bench at
// 1k/10k/100k, and bench/dns.ts (bpfproxy's DNS vs CoreDNS).
// Writes bench/results/<date>-<machine>.json, docs/perf/README.md and docs/perf/*.svg
// (or all under --out DIR), and prints which targets it met.
//   tsx bench/run.ts [--quick] [--out DIR] [--rounds N] [--scales 1,1000,10000,30000] [--seconds S] [--control-sizes N,…|none] [--skip-dns]
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, loadavg, release, tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCluster } from '../test/cluster/cluster.js';
import { createCgroup, removeCgroup } from '../test/harness/cgroup.js';
import { findPeers } from '../test/cluster/peers.js';
import { ApiRelay } from '../test/cluster/relay.js';
import { newRunPrefix, nsRun, spawnInNetns } from '../test/harness/netns.js';
import type { NodeProxy } from '../test/harness/proxy-process.js';
import { Topology } from '../test/harness/topology.js';
import { ProgStats, solvePaths } from './lib/bpf-runtime.js';
import { ServiceLoad, CLIENT, HTTP_PORT, IPERF_PORT, POD, manifestObjects } from './lib/cluster-load.js';
import { ManifestDir } from '../test/harness/manifests.js';
import { kernelMs, processCpuMs, readCpuTicks } from './lib/cpu.js';
import { ebpfControlPlane } from './lib/ebpf-control.js';
import { connectLatency, iperf, wrk } from './lib/load-tools.js';
import { GUEST_MODES, MODES, type Mode, metric, proxyFor, scrape } from './lib/modes.js';
import { startNginx } from './lib/nginx.js';
import { reportPage, writeReport } from './lib/report.js';
import type { BenchResults, ControlRow, DataRow, PerPacketRow } from './lib/results.js';
import { controlPlaneTargets, dataPlaneTargets, formatTargets } from './lib/targets.js';
import { measureXdpPps } from './lib/xdp-pps.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    guest: { type: 'boolean', default: false },
    out: { type: 'string' },
    rounds: { type: 'string' },
    scales: { type: 'string' },
    seconds: { type: 'string' },
    'control-sizes': { type: 'string' },
    'skip-dns': { type: 'boolean', default: false },
  },
});
const QUICK = values.quick!;
/** A comma-separated list of numbers ('none': empty), or the default. */
const list = (s: string | undefined, d: number[]) => (s === 'none' ? [] : s ? s.split(',').map(Number) : d);
/**
 * --guest (make bench-guest, inside the 6.1 guest under TCG): no proxy, ours and kube-proxy's
 * IPVS at 1 and 1k services, and nothing else (XDP, in-process control plane and DNS are the
 * host run's). Its own results file and report page: TCG numbers never meet host numbers.
 */
const GUEST = values.guest!;
if (GUEST && QUICK) throw new Error('--guest and --quick do not go together');
const RUN_MODES: readonly Mode[] = GUEST ? GUEST_MODES : MODES;
const SCALES = list(values.scales, QUICK || GUEST ? [1, 1000] : [1, 1000, 10_000, 30_000]);
/**
 * From this scale on: one round, no proxy and ebpf only, the services read from a manifests
 * directory instead of the API server. Creating 20k more through the API server took 419 s
 * here (42 s for the first 10k), and a full sync of either iptables mode takes minutes per
 * run: no room in the 25-minute budget. The 30k runs are there for ebpf's flat connect p99.
 */
const LARGE = 30_000;
const LARGE_MODES: readonly Mode[] = ['no-proxy', 'ebpf', 'ebpf/tc'];
const ROUNDS = Number(values.rounds ?? (QUICK ? 1 : 2));
const SECONDS = Number(values.seconds ?? (QUICK ? 1 : 3));
const IPERF_SECONDS = QUICK ? 1 : 2;
const CONNECT_SAMPLES = QUICK ? 30 : GUEST ? 100 : 300;
const WRK_CONNECTIONS = 8;
// Under TCG one kube-proxy IPVS sync takes 8–13 s: fewer steps there.
const CHANGES = QUICK ? 1 : GUEST ? 4 : 8;
const ADDS = QUICK ? 1 : GUEST ? 2 : 4;
const XDP_FRAMES = QUICK ? 200_000 : 1_000_000;
const XDP_ROUNDS = QUICK ? 1 : 3;
const CONTROL_SIZES = list(values['control-sizes'], GUEST ? [] : QUICK ? [1000] : [1000, 10_000, 100_000]);
const OUT = values.out;
const RESULTS_DIR = OUT ? join(OUT, 'results') : new URL('./results', import.meta.url).pathname;
const DOCS_DIR = OUT ? join(OUT, 'perf') : new URL('../docs/perf', import.meta.url).pathname;

const log = (s: string) => console.error(`bench: ${s}`);
// Ctrl-C / SIGTERM: stop after the current mode, so every `finally` (namespaces, pins, the
// cluster) still runs.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    log(`${sig}: stopping after the current mode`);
    interrupted = true;
  });
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Polls (bounded) until the measured service answers through the proxy. */
async function reachable(ns: string, hostPort: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await nsRun(ns, 'curl', ['-s', '-o', '/dev/null', '-m', '1', '-w', '%{http_code}', `http://${hostPort}/`], { allowFailure: true });
    if (r.stdout === '200') return;
    if (Date.now() > deadline) throw new Error(`${hostPort} not answering from ${ns} after 60 s (${r.stdout} ${r.stderr})`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

interface ModeRun {
  row: DataRow;
  perPacket?: PerPacketRow;
  control?: ControlRow;
}

async function runMode(mode: Mode, ctx: { cluster: TestCluster; load: ServiceLoad; kubeconfig: string; manifests?: string; services: number; kubeProxy: string; relay: ApiRelay; vip: string; scale: number; round: number; order: number; control: boolean }): Promise<ModeRun> {
  const prefix = newRunPrefix();
  const topo = new Topology(prefix);
  const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
  const pinRoot = `/sys/fs/bpf/${prefix}`;
  let proxy: NodeProxy | undefined;
  let stats: ProgStats | undefined;
  // The client's tools run in a cgroup of their own in every mode, as a pod's processes do;
  // ebpf's socket LB attaches there. Where the client runs is then the same for every mode.
  const cgroup = createCgroup(`${prefix}-client`);
  const ebpf = mode === 'ebpf' || mode === 'ebpf/tc';
  try {
    const nodeNs = (await topo.addNode('node-a', 1)).ns;
    const srv = (await topo.addPod('srv', 'node-a', POD, false)).ns;
    const client = (await topo.addPod('client', 'node-a', CLIENT, false)).ns;
    await startNginx(srv, POD, HTTP_PORT, join(work, 'nginx'));
    await spawnInNetns(srv, 'iperf3', ['-s', '-B', POD, '-p', String(IPERF_PORT), '--forceflush'], 'Server listening');
    await ctx.relay.intoNetns(nodeNs);
    proxy = proxyFor(mode, { netns: nodeNs, kubeconfig: ctx.kubeconfig, manifests: ctx.manifests, pinRoot, kubeProxyBinary: ctx.kubeProxy, workDir: work, cgroup });
    const load = { ns: client, cgroup };
    let startToSyncMs: number | null = null;
    if (proxy) {
      const t = performance.now();
      await proxy.start(20 * 60_000);
      startToSyncMs = round1(performance.now() - t);
    }
    const host = mode === 'no-proxy' ? POD : ctx.vip;
    const http = `${host}:${mode === 'no-proxy' ? HTTP_PORT : 80}`;
    await reachable(client, http);
    if (mode === 'ebpf/tc') stats = new ProgStats(pinRoot);
    const probe = async <T>(name: string, samples: Record<string, unknown>, w: () => Promise<T>): Promise<T> => {
      if (!stats) return w();
      let out: T;
      samples[name] = await stats.sample(async () => (out = await w()));
      return out!;
    };
    const samples: Record<string, unknown> = {};
    // Warm-up: JIT, page cache, first-connection costs.
    if (!QUICK) await wrk(load, `http://${http}/`, { seconds: 1, connections: WRK_CONNECTIONS, close: false });
    const connect = await connectLatency(load, http, CONNECT_SAMPLES);
    const t0 = readCpuTicks();
    const p0 = processCpuMs(proxy?.pid);
    const short = await probe('short', samples, () => wrk(load, `http://${http}/`, { seconds: SECONDS, connections: WRK_CONNECTIONS, close: true }));
    const proxyMs = processCpuMs(proxy?.pid) - p0;
    const cpu = kernelMs(t0, readCpuTicks());
    const keep = await probe('keepAlive', samples, () => wrk(load, `http://${http}/`, { seconds: SECONDS, connections: WRK_CONNECTIONS, close: false }));
    const up = await probe('up', samples, () => iperf(load, host, IPERF_SECONDS, false));
    const down = await probe('down', samples, () => iperf(load, host, IPERF_SECONDS, true));
    if (stats) await probe('pass', samples, () => iperf(load, POD, IPERF_SECONDS, false));
    const perK = short.requests / 1000;
    const row: DataRow = {
      scale: ctx.scale, services: ctx.services, round: ctx.round, order: ctx.order, mode, startToSyncMs,
      connectP50Us: round1(connect.p50Us), connectP99Us: round1(connect.p99Us),
      shortRps: round1(short.requestsPerSec), shortLatencyP50Us: short.latencyP50Us, shortLatencyP99Us: short.latencyP99Us, shortErrors: short.errors,
      keepAliveRps: round1(keep.requestsPerSec), gbpsUp: +up.toFixed(3), gbpsDown: +down.toFixed(3),
      systemMsPer1kConn: round1(cpu.systemMs / perK), softirqMsPer1kConn: round1(cpu.softirqMs / perK),
      proxyCpuMsPer1kConn: proxy ? round1(proxyMs / perK) : null,
      rssMB: null, gcPasses: null, gcMs: null,
    };
    const out: ModeRun = { row };
    if (stats) {
      const s = samples as PerPacketRow['samples'];
      out.perPacket = { scale: ctx.scale, round: ctx.round, samples: s, paths: solvePaths(s) };
    }
    if (proxy) {
      const m = await scrape(nodeNs);
      row.rssMB = Math.round(metric(m, 'process_resident_memory_bytes') / 2 ** 20);
      if (ebpf) {
        // Conntrack GC (a dump and a decision in the controller every 5 s) over the whole mode run.
        row.gcPasses = metric(m, 'bpfproxy_conntrack_gc_duration_seconds_count');
        row.gcMs = round1(metric(m, 'bpfproxy_conntrack_gc_duration_seconds_sum') * 1000);
      }
      if (ctx.control) out.control = { ...(await controlSteps(nodeNs, ctx.load)), scale: ctx.scale, mode, startToSyncMs, rssMB: row.rssMB };
    }
    return out;
  } finally {
    stats?.close();
    await proxy?.stop();
    // iptables/nftables state goes with the node namespace; the ebpf pins do not.
    if (proxy && ebpf) await proxy.cleanup();
    await topo.destroy();
    await removeCgroup(cgroup);
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Endpoint changes and service adds one at a time, spaced past the 1 s min-sync-period (so each
 * is an isolated change, not one waiting for the rate limit), each read back as the proxy's
 * own network programming latency: the histogram's _sum delta over one _count step.
 */
async function controlSteps(nodeNs: string, load: ServiceLoad): Promise<Pick<ControlRow, 'changeMs' | 'addMs'>> {
  const NAME = 'kubeproxy_network_programming_duration_seconds';
  let text = await scrape(nodeNs);
  // Absent before its first observation (kube-proxy registers the histogram lazily): 0.
  const read = (suffix: string) => metric(text, `${NAME}${suffix}`) || 0;
  let count = read('_count');
  let sum = read('_sum');
  const step = async (write: () => Promise<void>): Promise<number> => {
    await new Promise((r) => setTimeout(r, 1100));
    await write();
    const deadline = Date.now() + 120_000;
    for (;;) {
      text = await scrape(nodeNs);
      const c = read('_count');
      if (c > count) {
        const s = read('_sum');
        const ms = ((s - sum) * 1000) / (c - count);
        count = c;
        sum = s;
        return round1(ms);
      }
      if (Date.now() > deadline) throw new Error(`no ${NAME} sample within 120 s of a change`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const changeMs: number[] = [];
  for (let i = 0; i < CHANGES; i++) changeMs.push(await step(() => load.changeEndpoint()));
  const addMs: number[] = [];
  for (let i = 0; i < ADDS; i++) addMs.push(await step(() => load.addService()));
  return { changeMs, addMs };
}

async function main(): Promise<void> {
  const started = Date.now();
  const { peers, reason } = findPeers();
  if (!peers) throw new Error(`bench needs the test cluster (etcd, kube-apiserver, kube-proxy): ${reason}`);
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      machine: hostname(),
      kernel: release(),
      commit: execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim() + (execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8' }).trim() ? '+dirty' : ''),
      node: process.version,
      cpus: cpus().length,
      quick: QUICK,
      guest: GUEST,
      loadBefore: loadavg().map((x) => +x.toFixed(2)),
      loadAfter: [],
      durationS: 0,
      settings: { scales: SCALES, largeScale: { from: LARGE, rounds: 1, modes: LARGE_MODES, source: 'manifests directory' }, xdpFrames: XDP_FRAMES, xdpRounds: XDP_ROUNDS, rounds: ROUNDS, wrkSeconds: SECONDS, wrkConnections: WRK_CONNECTIONS, iperfSeconds: IPERF_SECONDS, connectSamples: CONNECT_SAMPLES, changes: CHANGES, adds: ADDS, controlSizes: CONTROL_SIZES },
      notes: [],
    },
    dataplane: [], control: [], ebpfControlPlane: [], perPacket: [], dns: null, targets: [],
  };
  const cluster = await TestCluster.start(peers);
  const largeDir = await mkdtemp(join(tmpdir(), 'bpfproxy-bench-large-'));
  const relay = new ApiRelay(cluster.apiPort, cluster.dir);
  try {
    await relay.open();
    const kubeconfig = await cluster.writeKubeconfig('bench');
    const load = new ServiceLoad(cluster);
    await load.init('198.19.200.1');
    for (const scale of SCALES) {
      const t = performance.now();
      let vip: string;
      let manifests: string | undefined;
      if (scale >= LARGE) {
        manifests = join(largeDir, `s${scale}`);
        const m = manifestObjects(scale, '198.19.200.1');
        const dir = new ManifestDir(manifests);
        await dir.init();
        await dir.write('services.json', m.objects);
        vip = m.vip;
        log(`${scale} services written to a manifests directory (${((performance.now() - t) / 1000).toFixed(1)} s), measured VIP ${vip}`);
      } else {
        vip = await load.growTo(scale);
        log(`${load.total} services installed (${((performance.now() - t) / 1000).toFixed(1)} s), measured VIP ${vip}`);
      }
      const services = manifests ? scale : load.total;
      const modes = scale >= LARGE ? LARGE_MODES : RUN_MODES;
      for (let round = 0; round < (scale >= LARGE ? 1 : ROUNDS); round++) {
        const order = round % 2 === 0 ? [...modes] : [...modes].reverse();
        for (const [i, mode] of order.entries()) {
          if (interrupted) throw new Error('interrupted');
          const t1 = performance.now();
          const r = await runMode(mode, { cluster, load, kubeconfig, manifests, services, kubeProxy: peers.kubeProxy, relay, vip, scale, round, order: i, control: round === 0 && scale >= 1000 && scale < LARGE && mode !== 'ebpf/tc' });
          results.dataplane.push(r.row);
          if (r.perPacket) results.perPacket.push(r.perPacket);
          if (r.control) results.control.push(r.control);
          log(`${scale} services, round ${round + 1}, ${mode}: short ${r.row.shortRps} req/s, keep-alive ${r.row.keepAliveRps} req/s, connect p50/p99 ${r.row.connectP50Us}/${r.row.connectP99Us} µs, sync ${r.row.startToSyncMs ?? '-'} ms (${((performance.now() - t1) / 1000).toFixed(0)} s)`);
        }
      }
    }
  } finally {
    await relay.close();
    await cluster.stop();
    await rm(largeDir, { recursive: true, force: true });
  }
  // North-south: the NodePort packet rate with xdp_lb beside tc_lb alone (its own topology).
  if (!GUEST) {
    log(`XDP vs tc NodePort packet rate (${XDP_FRAMES} frames × ${XDP_ROUNDS} rounds per mode and placement)`);
    try {
      results.xdp = await measureXdpPps({ frames: XDP_FRAMES, rounds: XDP_ROUNDS, log });
    } catch (e) {
      results.meta.notes.push(`XDP packet rate failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  for (const n of CONTROL_SIZES) {
    log(`ebpf control plane in-process at ${n} services`);
    // A size that fails (or outruns its bound) is a note, not the loss of the whole run.
    try {
      results.ebpfControlPlane.push(await ebpfControlPlane(n));
    } catch (e) {
      results.meta.notes.push(`ebpf control plane at ${n} services: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  // DNS vs CoreDNS: about a minute; not in the quick run.
  if (!QUICK && !GUEST && !values['skip-dns']) {
    log('DNS vs CoreDNS (bench/dns.ts)');
    try {
      results.dns = execFileSync(process.execPath, ['--import', 'tsx', new URL('./dns.ts', import.meta.url).pathname, '--seconds', '5', '--rounds', '1', '--changes', '5'], { encoding: 'utf8', timeout: 10 * 60_000 });
    } catch (e) {
      results.meta.notes.push(`DNS bench failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  results.meta.loadAfter = loadavg().map((x) => +x.toFixed(2));
  results.meta.durationS = Math.round((Date.now() - started) / 1000);
  // The targets are ebpf's, on the host.
  results.targets = GUEST ? [] : [...dataPlaneTargets(results.dataplane), ...controlPlaneTargets(results.ebpfControlPlane)];
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${results.meta.date.slice(0, 10)}-${results.meta.machine}${QUICK ? '-quick' : GUEST ? '-guest-ipvs' : ''}.json`);
  await writeFile(file, JSON.stringify(results, null, 1) + '\n');
  await writeReport(results, DOCS_DIR, file);
  console.log(`bench: ${results.meta.durationS} s; results ${file}; report ${join(DOCS_DIR, reportPage(results))}`);
  console.log(`targets:\n${formatTargets(results.targets)}`);
}

await main();
