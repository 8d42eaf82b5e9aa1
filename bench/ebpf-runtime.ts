// ns per packet of the attached tc_lb under real traffic, from the kernel's own accounting
// (BPF_ENABLE_STATS: run_time_ns / run_cnt of the program), split by path with the data
// plane's own counters (dp_stats). Replaces BPF_PROG_TEST_RUN with `repeat`, which NATs its
// one packet in place on the first iteration and then measures the miss path.
//   npx tsx bench/ebpf-runtime.ts [--services 10000] [--seconds 3] [--connections 1500] [--rounds 3]
//
// Workloads, client pod → server pod on one node, the real proxy (CLI) in the node netns,
// --services frontends installed and the measured one written last:
//   pass       iperf3 to the pod IP: tc_lb runs on both veths and finds no flow, no frontend
//   up         iperf3 through the VIP: data on the forward (established) path, ACKs on the reply path
//   down       iperf3 -R through the VIP: the reverse mix
//   short      new connections (Connection: close) through the VIP: new + established + reply
// Per-path costs come from those mixes: pass from `pass`; established and reply by solving
// `up` and `down` (two mixes, two unknowns); new from `short` minus its other packets.
// Stats are on only while this process holds the BPF_ENABLE_STATS fd.
// Builds its own namespaces (bpt<5 hex>-…) and pins under /sys/fs/bpf/<prefix>; removes all.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { libbpf } from '../src/backends/ebpf/libbpf.js';
import { openPinnedStats, type DatapathStats } from '../src/backends/ebpf/stats.js';
import { requests } from '../test/harness/client.js';
import { ManifestDir, endpointSlice, node, service } from '../test/harness/manifests.js';
import { newRunPrefix, nsRun, spawnInNetns } from '../test/harness/netns.js';
import { ProxyProcess } from '../test/harness/proxy-process.js';
import { Topology } from '../test/harness/topology.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '1500' },
    rounds: { type: 'string', default: '3' },
  },
});
const SERVICES = Number(values.services);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);
const VIP = '198.19.1.175';
const POD = '198.18.1.2';

interface Sample {
  /** tc_lb runs and their total run time over the workload. */
  runs: number;
  ns: number;
  /** dp_stats deltas; `other` = runs that took no counted path (no flow, no frontend). */
  paths: { new: number; established: number; reply: number; other: number };
}

const spread = (xs: number[]) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;

/** The frontends: the measured one (VIP: http + iperf) last, after SERVICES - 1 others. */
function objects(nodeAddress: string): object[] {
  const out: object[] = [node('node-a', nodeAddress, '198.18.1.0/24')];
  for (let i = 1; i < SERVICES; i++) {
    const name = `filler-${i}`;
    out.push(service({ name, clusterIP: `198.19.${2 + (i >> 8)}.${i & 0xff}`, ports: [{ port: 80, targetPort: 9376 }] }));
    out.push(endpointSlice(name, [{ port: 9376 }], [1, 2, 3].map((k) => ({ ip: `198.18.9.${k}`, pod: `f${k}`, node: 'node-a' }))));
  }
  out.push(service({ name: 'bench', clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 9376 }, { name: 'iperf', port: 5201, targetPort: 5201 }] }));
  out.push(endpointSlice('bench', [{ name: 'http', port: 9376 }, { name: 'iperf', port: 5201 }], [{ ip: POD, pod: 'srv', node: 'node-a' }]));
  return out;
}

const prefix = newRunPrefix();
const pinRoot = `/sys/fs/bpf/${prefix}`;
const topo = new Topology(prefix);
const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
const manifests = new ManifestDir(join(work, 'm'));
let statsFd: number | undefined;
let proxy: ProxyProcess | undefined;
try {
  await manifests.init();
  await topo.addNode('node-a', 1);
  await topo.addPod('srv', 'node-a', POD);
  await topo.addPod('client', 'node-a', '198.18.1.100', false);
  await spawnInNetns(topo.pod('srv').ns, 'iperf3', ['-s', '-p', '5201', '--forceflush'], 'Server listening');
  await manifests.write('svc.json', objects(topo.node('node-a').address));
  proxy = new ProxyProcess({ backend: 'ebpf', netns: topo.node('node-a').ns, manifests: manifests.dir, nodeName: 'node-a', extraArgs: ['--bpf-pin-root', pinRoot] });
  await proxy.start();
  const prog = libbpf.getPinned(join(pinRoot, 'prog_tc_lb'));
  const counters = openPinnedStats(pinRoot);
  if (!counters) throw new Error(`no dp_stats under ${pinRoot}`);
  statsFd = libbpf.enableStats();
  const client = topo.pod('client').ns;

  const snapshot = (): { info: { runTimeNs: bigint; runCnt: bigint }; dp: DatapathStats } => ({ info: libbpf.progInfo(prog), dp: counters.read() });
  async function sample(work: () => Promise<void>): Promise<Sample> {
    const a = snapshot();
    await work();
    const b = snapshot();
    const d = (k: string) => b.dp.packets[k]! - a.dp.packets[k]!;
    const runs = Number(b.info.runCnt - a.info.runCnt);
    const paths = { new: d('new'), established: d('established'), reply: d('reply'), other: 0 };
    paths.other = runs - paths.new - paths.established - paths.reply;
    return { runs, ns: Number(b.info.runTimeNs - a.info.runTimeNs), paths };
  }
  const iperf = (target: string, reverse: boolean) => async () => {
    await nsRun(client, 'iperf3', ['-c', target, '-p', '5201', '-t', String(SECONDS), ...(reverse ? ['-R'] : [])], { timeoutMs: (SECONDS + 20) * 1000 });
  };
  const short = async () => {
    const r = await requests(client, `${VIP}:80`, { count: CONNECTIONS, timeoutMs: 2000 });
    const failed = r.filter((x) => !x.ok).length;
    if (failed) throw new Error(`${failed} of ${CONNECTIONS} short connections failed`);
  };
  const workloads = { pass: iperf(POD, false), up: iperf(VIP, false), down: iperf(VIP, true), short };
  await iperf(VIP, false)(); // warm-up: JIT, page cache, conntrack entries of iperf's control flow

  const rounds: Array<Record<keyof typeof workloads, Sample>> = [];
  for (let i = 0; i < ROUNDS; i++) {
    const r = {} as Record<keyof typeof workloads, Sample>;
    for (const [name, w] of Object.entries(workloads) as Array<[keyof typeof workloads, () => Promise<void>]>) r[name] = await sample(w);
    rounds.push(r);
  }

  // Per-path ns/packet of one round.
  const perPath = (r: Record<keyof typeof workloads, Sample>) => {
    const pass = r.pass.ns / r.pass.runs;
    // ns_w - pass·other_w = est·E_w + rep·R_w for w in {up, down}: two equations, two unknowns.
    const rhs = (s: Sample) => s.ns - pass * s.paths.other;
    const { up, down } = r;
    const det = up.paths.established * down.paths.reply - up.paths.reply * down.paths.established;
    const est = (rhs(up) * down.paths.reply - up.paths.reply * rhs(down)) / det;
    const rep = (up.paths.established * rhs(down) - rhs(up) * down.paths.established) / det;
    const s = r.short;
    const fresh = (s.ns - pass * s.paths.other - est * s.paths.established - rep * s.paths.reply) / s.paths.new;
    return { pass, established: est, reply: rep, new: fresh };
  };
  const table = rounds.map(perPath);
  console.log(`\ntc_lb ns/packet by kernel run-time stats, ${SERVICES} services installed, ${ROUNDS} rounds (median, min–max)\n`);
  console.log('workload  runs/round  ns/run (all packets)  packets by path (new / established / reply / other)');
  for (const name of Object.keys(workloads) as Array<keyof typeof workloads>) {
    const xs = rounds.map((r) => r[name].ns / r[name].runs);
    const p = rounds[0]![name].paths;
    console.log(`${name.padEnd(8)}  ${String(median(rounds.map((r) => r[name].runs))).padStart(10)}  ${median(xs).toFixed(0).padStart(6)} (${spread(xs)})`.padEnd(46) + `  ${p.new} / ${p.established} / ${p.reply} / ${p.other}`);
  }
  console.log('\npath          ns/packet (derived)');
  for (const k of ['pass', 'established', 'reply', 'new'] as const) {
    const xs = table.map((t) => t[k]);
    console.log(`${k.padEnd(12)}  ${median(xs).toFixed(0).padStart(6)} (${spread(xs)})`);
  }
} finally {
  if (statsFd !== undefined) libbpf.closeFd(statsFd);
  if (proxy) {
    await proxy.stop();
    await proxy.cleanup();
  }
  await topo.destroy();
  await rm(work, { recursive: true, force: true });
}
