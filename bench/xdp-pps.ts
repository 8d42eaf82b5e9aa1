// Packet rate of the NodePort path: xdp_lb (--xdp=native) next to tc_lb alone (--xdp=off), same
// topology, same frames. The generator is an XDP program run with BPF_F_TEST_XDP_LIVE_FRAMES
// (kernel 5.18+) in a generator namespace: it transmits UDP frames to the node's NodePort
// out of its veth into the node's external veth. The node (bpfproxy, ebpf backend, eTP
// Cluster: DNAT + SNAT) sends them to the backend pod, whose veth counts and drops them
// (tc_sink, at the pod veth's tc ingress: an skb in both modes). pps = frames that reached the pod / wall time of the generator's run; the
// receiving side runs in the softirq of the generator's CPU, so the time covers the whole
// path. Medians of a few rounds; a bench, not a test: nothing here asserts a time.
// Two placements of the backend: a pod on the node (redirect into its veth; counted at the
// pod's tc ingress, an skb in both modes) and a pod on another node (sent back out of the
// external interface; counted by an XDP program on the generator's veth, i.e. as frames on
// the wire).
//   npx tsx bench/xdp-pps.ts [--frames 2000000] [--rounds 5]
// Builds its own namespaces (bpt<5 hex>-…) and pins under /sys/fs/bpf/<prefix>; removes all.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { addon, libbpf, REPO_ROOT, type LoadedObject } from '../src/backends/ebpf/libbpf.js';
import { possibleCpus, readDatapathStats } from '../src/backends/ebpf/stats.js';
import { ManifestDir, endpointSlice, node, service } from '../test/harness/manifests.js';
import { createNetns, deleteNetns, ip, newRunPrefix, nsRun } from '../test/harness/netns.js';
import { ProxyProcess } from '../test/harness/proxy-process.js';
import { UDP, buildPacket } from '../test/backends/ebpf/packets.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { frames: { type: 'string', default: '2000000' }, rounds: { type: 'string', default: '5' } } });
const FRAMES = Number(values.frames);
const ROUNDS = Number(values.rounds);
const NODE_IP = '198.19.200.1';
const GEN_IP = '198.19.200.100';
const POD = '198.18.1.11';
/** The "other node" is the generator's namespace: its address is the next hop to 198.18.2.0/24. */
const REMOTE_POD = '198.18.2.11';
const NODE_PORT = 30053;

const prefix = newRunPrefix();
const ns = { gen: `${prefix}-gen`, node: `${prefix}-node`, pod: `${prefix}-pod` };
const pinRoot = `/sys/fs/bpf/${prefix}`;
const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
const manifests = new ManifestDir(join(work, 'm'));
let bench: LoadedObject | undefined;
let proxy: ProxyProcess | undefined;

const macOf = async (n: string, dev: string) => (JSON.parse((await ip(['-n', n, '-j', 'link', 'show', dev])).stdout) as Array<{ address: string }>)[0]!.address;

async function topology(): Promise<void> {
  for (const n of Object.values(ns)) await createNetns(n);
  await nsRun(ns.node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  // generator gen0 <-> node eth0 (the node's external interface)
  await ip(['-n', ns.gen, 'link', 'add', 'gen0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.node]);
  await ip(['-n', ns.gen, 'addr', 'add', `${GEN_IP}/24`, 'dev', 'gen0']);
  await ip(['-n', ns.node, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0']);
  // node p0 <-> pod eth0
  await ip(['-n', ns.node, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.pod]);
  await ip(['-n', ns.node, 'addr', 'add', '198.18.1.1/32', 'dev', 'p0']);
  await ip(['-n', ns.pod, 'addr', 'add', `${POD}/32`, 'dev', 'eth0']);
  for (const [n, d] of [[ns.gen, 'gen0'], [ns.node, 'eth0'], [ns.node, 'p0'], [ns.pod, 'eth0']] as const) await ip(['-n', n, 'link', 'set', d, 'up']);
  await ip(['-n', ns.node, 'route', 'add', `${POD}/32`, 'dev', 'p0']);
  // Resolved neighbours, as on a node with traffic: the FIB answers at once in both modes.
  await ip(['-n', ns.node, 'neigh', 'replace', POD, 'lladdr', await macOf(ns.pod, 'eth0'), 'dev', 'p0', 'nud', 'permanent']);
  await ip(['-n', ns.node, 'neigh', 'replace', GEN_IP, 'lladdr', await macOf(ns.gen, 'gen0'), 'dev', 'eth0', 'nud', 'permanent']);
  await ip(['-n', ns.node, 'route', 'add', '198.18.2.0/24', 'via', GEN_IP]);
  // The node's eth0 takes the generator's frames through NAPI in both modes (xdp_lb attached,
  // or GRO for tc alone), and the pod's eth0 takes xdp_lb's redirects: without an XDP
  // program or GRO, a veth drops frames sent to it by XDP.
  await nsRun(ns.node, 'ethtool', ['-K', 'eth0', 'gro', 'on']);
  await nsRun(ns.pod, 'ethtool', ['-K', 'eth0', 'gro', 'on']);
}

async function loadBenchPrograms(): Promise<{ gen: number; sink: number; wireSink: number; tmpl: number; count: number }> {
  bench = await libbpf.openLoad(join(REPO_ROOT, 'bpf/.output/bench_xdp.bpf.o'));
  const prog = (n: string) => bench!.programs.find((p) => p.name === n)!.fd;
  const map = (n: string) => bench!.maps.find((m) => m.name === n)!.fd;
  return { gen: prog('xdp_gen'), sink: prog('tc_sink'), wireSink: prog('xdp_sink'), tmpl: map('gen_tmpl'), count: map('sink_count') };
}

function sinkCount(fd: number, cpus: number): number {
  const v = addon().mapLookup(fd, Buffer.alloc(4), 8 * cpus);
  let n = 0n;
  for (let c = 0; v && c < cpus; c++) n += v.readBigUInt64LE(c * 8);
  return Number(n);
}

interface Round { pps: number; delivered: number; xdpPackets: number; tcPackets: number; nsPerPacket: number; progNs: Record<string, number> }

/** Run time and count of a program so far (kept while BPF_ENABLE_STATS is on). */
function progRun(fd: number): { ns: bigint; cnt: bigint } {
  const i = libbpf.progInfo(fd);
  return { ns: i.runTimeNs, cnt: i.runCnt };
}

async function measure(p: Awaited<ReturnType<typeof loadBenchPrograms>>, frame: Buffer, cpus: number): Promise<Round> {
  const statsFd = libbpf.getPinned(join(pinRoot, 'dp_stats'));
  // Where the time goes: each program's own run time per packet it saw.
  const progs: Record<string, number> = { xdp_gen: p.gen, tc_sink: p.sink, xdp_sink: p.wireSink, xdp_lb: libbpf.getPinned(join(pinRoot, 'prog_xdp_lb')), tc_lb: libbpf.getPinned(join(pinRoot, 'prog_tc_lb')) };
  try {
    const r0 = Object.fromEntries(Object.entries(progs).map(([n, fd]) => [n, progRun(fd)]));
    const s0 = readDatapathStats(statsFd, cpus);
    const before = sinkCount(p.count, cpus);
    const t0 = process.hrtime.bigint();
    await libbpf.xdpTestRun({ progFd: p.gen, data: frame, netns: `/run/netns/${ns.gen}`, ifname: 'gen0', repeat: FRAMES, live: true, batchSize: 64 });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const delivered = sinkCount(p.count, cpus) - before;
    const s1 = readDatapathStats(statsFd, cpus);
    const d = (k: string) => s1.packets[k]! - s0.packets[k]!;
    const progNs: Record<string, number> = {};
    for (const [n, fd] of Object.entries(progs)) {
      const r1 = progRun(fd);
      const cnt = Number(r1.cnt - r0[n]!.cnt);
      if (cnt > 0) progNs[n] = Number(r1.ns - r0[n]!.ns) / cnt;
    }
    return { pps: delivered / secs, delivered, xdpPackets: d('xdp_new') + d('xdp_established'), tcPackets: d('new') + d('established'), nsPerPacket: (secs * 1e9) / FRAMES, progNs };
  } finally {
    libbpf.closeFd(statsFd);
    libbpf.closeFd(progs.xdp_lb!);
    libbpf.closeFd(progs.tc_lb!);
  }
}

const fmt = (x: number) => (x / 1e6).toFixed(3);

function report(where: string, results: Record<'tc' | 'xdp', Round[]>, cpus: number): void {
  const row = (mode: 'tc' | 'xdp') => {
    const pps = results[mode].map((r) => r.pps);
    return { median: median(pps), min: Math.min(...pps), max: Math.max(...pps) };
  };
  const tc = row('tc');
  const xdp = row('xdp');
  console.log(`\nNodePort UDP to a ${where} (eTP Cluster: DNAT + SNAT): ${FRAMES} live frames per round, ${ROUNDS} rounds alternating, ${cpus} CPUs`);
  console.log('path  Mpps median  Mpps min-max    delivered/sent  handled by (last round)');
  for (const [mode, r] of [['tc', tc], ['xdp', xdp]] as const) {
    const last = results[mode].at(-1)!;
    console.log(`${mode.padEnd(5)} ${fmt(r.median).padStart(11)}  ${fmt(r.min)}-${fmt(r.max)}  ${(last.delivered / FRAMES).toFixed(3).padStart(14)}  xdp_lb ${last.xdpPackets}, tc_lb ${last.tcPackets}`);
  }
  console.log(`ratio xdp/tc (medians): ${(xdp.median / tc.median).toFixed(2)}x (issue 13 target: >= 3x)`);
  console.log('where the time goes (medians over rounds): wall ns per frame sent | each program\'s own ns per run; the rest is the kernel (veth rings, redirects; skb build, GRO, neighbour output for tc)');
  for (const mode of ['tc', 'xdp'] as const) {
    const rs = results[mode];
    const progs = [...new Set(rs.flatMap((r) => Object.keys(r.progNs)))].map((n) => `${n} ${median(rs.map((r) => r.progNs[n] ?? 0)).toFixed(0)}`).join(', ');
    console.log(`  ${mode.padEnd(4)} wall ${median(rs.map((r) => r.nsPerPacket)).toFixed(0)} | ${progs}`);
  }
}

try {
  await manifests.init();
  await topology();
  const p = await loadBenchPrograms();
  await libbpf.tcAttach({ netns: `/run/netns/${ns.pod}`, ifname: 'eth0', direction: 'ingress', handle: 1, priority: 1 }, p.sink);
  await libbpf.xdpAttach({ netns: `/run/netns/${ns.gen}`, ifname: 'gen0' }, 'native', p.wireSink);
  const frame = buildPacket({
    saddr: GEN_IP, daddr: NODE_IP, proto: UDP, sport: 40000, dport: NODE_PORT, payload: Buffer.alloc(18, 0x61),
    srcMac: await macOf(ns.gen, 'gen0'), dstMac: await macOf(ns.node, 'eth0'),
  });
  const tmpl = Buffer.alloc(48);
  frame.copy(tmpl, 0, 0, 42);
  addon().mapUpdate(p.tmpl, Buffer.alloc(4), tmpl, 0);
  const cpus = possibleCpus();
  const statsOn = libbpf.enableStats(); // closed at the end: run-time stats cost a little per run
  // --xdp-local-redirect: the pod's eth0 runs NAPI (GRO on, above), so XDP may redirect into its veth.
  proxy = new ProxyProcess({ backend: 'ebpf', netns: ns.node, nodeName: 'node-a', manifests: manifests.dir, extraArgs: ['--bpf-pin-root', pinRoot, '--xdp-local-redirect'] });
  for (const [where, podIP, podNode] of [['local pod', POD, 'node-a'], ['pod on another node', REMOTE_POD, 'node-b']] as const) {
    await manifests.write('svc.json', [
      node('node-a', NODE_IP, '198.18.1.0/24'),
      node('node-b', GEN_IP, '198.18.2.0/24'),
      service({ name: 'np', type: 'NodePort', clusterIP: '198.19.1.53', ports: [{ name: 'dns', port: 53, targetPort: 5353, nodePort: NODE_PORT, protocol: 'UDP' }] }),
      endpointSlice('np', [{ name: 'dns', port: 5353, protocol: 'UDP' }], [{ ip: podIP, pod: 'pod', node: podNode }]),
    ]);
    const results: Record<'tc' | 'xdp', Round[]> = { tc: [], xdp: [] };
    // Rounds alternate the two modes (a restart with the other --xdp each time), so that load
    // from elsewhere on the machine falls on both alike.
    for (let r = 0; r < ROUNDS; r++) {
      for (const [mode, flag] of [['xdp', 'native'], ['tc', 'off']] as const) {
        await proxy.restart([`--xdp=${flag}`]);
        const attached = await libbpf.xdpQuery({ netns: `/run/netns/${ns.node}`, ifname: 'eth0' });
        if ((attached.mode === 'native') !== (mode === 'xdp')) throw new Error(`${mode}: node eth0 has XDP ${attached.mode}`);
        await measure(p, frame, cpus); // warm-up: the flow's conntrack entries, caches
        results[mode].push(await measure(p, frame, cpus));
      }
    }
    report(where, results, cpus);
  }
  libbpf.closeFd(statsOn);
} finally {
  await proxy?.stop().catch(() => undefined);
  const cleanup = new ProxyProcess({ backend: 'ebpf', netns: ns.node, nodeName: 'node-a', manifests: manifests.dir, extraArgs: ['--bpf-pin-root', pinRoot] });
  await cleanup.cleanup().catch((e) => console.error('cleanup', e));
  if (bench) libbpf.closeObject(bench.handle);
  for (const n of Object.values(ns).reverse()) await deleteNetns(n);
  await rm(work, { recursive: true, force: true });
  await rm(pinRoot, { recursive: true, force: true }).catch(() => undefined);
}
