// Packet rate of the NodePort path: xdp_lb (--xdp=native) next to tc_lb alone (--xdp=off), same
// topology, same frames. The generator is an XDP program run with BPF_F_TEST_XDP_LIVE_FRAMES
// (kernel 5.18+) in a generator namespace: it transmits UDP frames to the node's NodePort
// out of its veth into the node's external veth. The node (bpfproxy, ebpf backend, eTP
// Cluster: DNAT + SNAT) sends them to the backend pod. pps = frames that reached the backend /
// wall time of the generator's run; the receiving side runs in the softirq of the generator's
// CPU, so the time covers the whole path.
// Two placements of the backend:
// - a pod on the node: redirect into its veth, counted at the pod veth's tc ingress (tc_sink:
//   an skb in both modes);
// - a pod on another node: sent back out of the external interface, counted by an XDP
//   program on the generator's veth (xdp_sink), i.e. as frames on the wire.
// Every frame repeats one 5-tuple: after the first, each is an established flow's packet, so
// the programs' own ns/packet (BPF run-time stats) are the established NodePort path of each.
// Builds its own namespaces (bpt<5 hex>-…) and pins under /sys/fs/bpf/<prefix>; removes all.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addon, libbpf, REPO_ROOT, type LoadedObject } from '../../src/backends/ebpf/libbpf.js';
import { possibleCpus, readDatapathStats } from '../../src/backends/ebpf/stats.js';
import { ManifestDir, endpointSlice, node, service } from '../../test/harness/manifests.js';
import { createNetns, deleteNetns, ip, newRunPrefix, nsRun } from '../../test/harness/netns.js';
import { ProxyProcess } from '../../test/harness/proxy-process.js';
import { UDP, buildPacket } from '../../test/backends/ebpf/packets.js';
import { midMedian } from '../stats.js';

const NODE_IP = '198.19.200.1';
const GEN_IP = '198.19.200.100';
const POD = '198.18.1.11';
/** The "other node" is the generator's namespace: its address is the next hop to 198.18.2.0/24. */
const REMOTE_POD = '198.18.2.11';
const NODE_PORT = 30053;

export type XdpMode = 'tc' | 'xdp';

/** One measured run of `frames` frames in one mode. */
export interface XdpRound {
  pps: number;
  delivered: number;
  /** Packets xdp_lb handled (xdp_new + xdp_established) and tc_lb forwarded (new + established). */
  xdpPackets: number;
  tcPackets: number;
  /** Wall time of the generator's run ÷ frames sent. */
  nsPerPacket: number;
  /** Each program's own run time ÷ its runs over the round (bench programs included). */
  progNs: Record<string, number>;
}

export interface XdpPlacement {
  where: 'local pod' | 'pod on another node';
  frames: number;
  rounds: Record<XdpMode, XdpRound[]>;
}

const macOf = async (n: string, dev: string) => (JSON.parse((await ip(['-n', n, '-j', 'link', 'show', dev])).stdout) as Array<{ address: string }>)[0]!.address;

function sinkCount(fd: number, cpus: number): number {
  const v = addon().mapLookup(fd, Buffer.alloc(4), 8 * cpus);
  let n = 0n;
  for (let c = 0; v && c < cpus; c++) n += v.readBigUInt64LE(c * 8);
  return Number(n);
}

/** Run time and count of a program so far (kept while BPF_ENABLE_STATS is on). */
function progRun(fd: number): { ns: bigint; cnt: bigint } {
  const i = libbpf.progInfo(fd);
  return { ns: i.runTimeNs, cnt: i.runCnt };
}

/**
 * Both placements, `rounds` rounds each, the two modes alternating within a round (a restart
 * with the other --xdp each time) so that load from elsewhere on the machine falls on both alike.
 */
export async function measureXdpPps(o: { frames: number; rounds: number; log?: (s: string) => void }): Promise<XdpPlacement[]> {
  const prefix = newRunPrefix();
  const ns = { gen: `${prefix}-gen`, node: `${prefix}-node`, pod: `${prefix}-pod` };
  const pinRoot = `/sys/fs/bpf/${prefix}`;
  const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
  const manifests = new ManifestDir(join(work, 'm'));
  let bench: LoadedObject | undefined;
  let proxy: ProxyProcess | undefined;
  let statsOn: number | undefined;

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

  async function measure(p: { gen: number; sink: number; wireSink: number; count: number }, frame: Buffer, cpus: number, frames: number): Promise<XdpRound> {
    const statsFd = libbpf.getPinned(join(pinRoot, 'dp_stats'));
    // Where the time goes: each program's own run time per packet it saw.
    const progs: Record<string, number> = { xdp_gen: p.gen, tc_sink: p.sink, xdp_sink: p.wireSink, xdp_lb: libbpf.getPinned(join(pinRoot, 'prog_xdp_lb')), tc_lb: libbpf.getPinned(join(pinRoot, 'prog_tc_lb')) };
    try {
      const r0 = Object.fromEntries(Object.entries(progs).map(([n, fd]) => [n, progRun(fd)]));
      const s0 = readDatapathStats(statsFd, cpus);
      const before = sinkCount(p.count, cpus);
      const t0 = process.hrtime.bigint();
      await libbpf.xdpTestRun({ progFd: p.gen, data: frame, netns: `/run/netns/${ns.gen}`, ifname: 'gen0', repeat: frames, live: true, batchSize: 64 });
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const delivered = sinkCount(p.count, cpus) - before;
      const s1 = readDatapathStats(statsFd, cpus);
      const d = (k: string) => s1.packets[k]! - s0.packets[k]!;
      const progNs: Record<string, number> = {};
      for (const [n, fd] of Object.entries(progs)) {
        const r1 = progRun(fd);
        const cnt = Number(r1.cnt - r0[n]!.cnt);
        if (cnt > 0) progNs[n] = Math.round(Number(r1.ns - r0[n]!.ns) / cnt);
      }
      return { pps: Math.round(delivered / secs), delivered, xdpPackets: d('xdp_new') + d('xdp_established'), tcPackets: d('new') + d('established'), nsPerPacket: Math.round((secs * 1e9) / frames), progNs };
    } finally {
      libbpf.closeFd(statsFd);
      libbpf.closeFd(progs.xdp_lb!);
      libbpf.closeFd(progs.tc_lb!);
    }
  }

  const out: XdpPlacement[] = [];
  try {
    await manifests.init();
    await topology();
    bench = await libbpf.openLoad(join(REPO_ROOT, 'bpf/.output/bench_xdp.bpf.o'));
    const prog = (n: string) => bench!.programs.find((x) => x.name === n)!.fd;
    const map = (n: string) => bench!.maps.find((m) => m.name === n)!.fd;
    const p = { gen: prog('xdp_gen'), sink: prog('tc_sink'), wireSink: prog('xdp_sink'), count: map('sink_count') };
    await libbpf.tcAttach({ netns: `/run/netns/${ns.pod}`, ifname: 'eth0', direction: 'ingress', handle: 1, priority: 1 }, p.sink);
    await libbpf.xdpAttach({ netns: `/run/netns/${ns.gen}`, ifname: 'gen0' }, 'native', p.wireSink);
    const frame = buildPacket({
      saddr: GEN_IP, daddr: NODE_IP, proto: UDP, sport: 40000, dport: NODE_PORT, payload: Buffer.alloc(18, 0x61),
      srcMac: await macOf(ns.gen, 'gen0'), dstMac: await macOf(ns.node, 'eth0'),
    });
    const tmpl = Buffer.alloc(48);
    frame.copy(tmpl, 0, 0, 42);
    addon().mapUpdate(map('gen_tmpl'), Buffer.alloc(4), tmpl, 0);
    const cpus = possibleCpus();
    statsOn = libbpf.enableStats(); // closed at the end: run-time stats cost a little per run
    // --xdp-local-redirect: the pod's eth0 runs NAPI (GRO on, above), so XDP may redirect into its veth.
    proxy = new ProxyProcess({ backend: 'ebpf', netns: ns.node, nodeName: 'node-a', manifests: manifests.dir, extraArgs: ['--bpf-pin-root', pinRoot, '--xdp-local-redirect'] });
    for (const [where, podIP, podNode] of [['local pod', POD, 'node-a'], ['pod on another node', REMOTE_POD, 'node-b']] as const) {
      await manifests.write('svc.json', [
        node('node-a', NODE_IP, '198.18.1.0/24'),
        node('node-b', GEN_IP, '198.18.2.0/24'),
        service({ name: 'np', type: 'NodePort', clusterIP: '198.19.1.53', ports: [{ name: 'dns', port: 53, targetPort: 5353, nodePort: NODE_PORT, protocol: 'UDP' }] }),
        endpointSlice('np', [{ name: 'dns', port: 5353, protocol: 'UDP' }], [{ ip: podIP, pod: 'pod', node: podNode }]),
      ]);
      const rounds: Record<XdpMode, XdpRound[]> = { tc: [], xdp: [] };
      for (let r = 0; r < o.rounds; r++) {
        for (const [mode, flag] of [['xdp', 'native'], ['tc', 'off']] as const) {
          await proxy.restart([`--xdp=${flag}`]);
          const attached = await libbpf.xdpQuery({ netns: `/run/netns/${ns.node}`, ifname: 'eth0' });
          if ((attached.mode === 'native') !== (mode === 'xdp')) throw new Error(`${mode}: node eth0 has XDP ${attached.mode}`);
          // Warm-up (a tenth of the frames): the flow's conntrack entries, caches.
          await measure(p, frame, cpus, Math.ceil(o.frames / 10));
          const m = await measure(p, frame, cpus, o.frames);
          rounds[mode].push(m);
          o.log?.(`XDP pps, ${where}, round ${r + 1}/${o.rounds}, ${mode}: ${(m.pps / 1e6).toFixed(3)} Mpps`);
        }
      }
      out.push({ where, frames: o.frames, rounds });
    }
    return out;
  } finally {
    if (statsOn !== undefined) libbpf.closeFd(statsOn);
    await proxy?.stop().catch(() => undefined);
    const cleanup = new ProxyProcess({ backend: 'ebpf', netns: ns.node, nodeName: 'node-a', manifests: manifests.dir, extraArgs: ['--bpf-pin-root', pinRoot] });
    await cleanup.cleanup().catch((e) => console.error('cleanup', e));
    if (bench) libbpf.closeObject(bench.handle);
    for (const n of Object.values(ns).reverse()) await deleteNetns(n);
    await rm(work, { recursive: true, force: true });
    await rm(pinRoot, { recursive: true, force: true }).catch(() => undefined);
  }
}

export interface XdpSummary {
  where: XdpPlacement['where'];
  mpps: Record<XdpMode, { median: number; min: number; max: number }>;
  /** XDP ÷ tc, medians. */
  ratio: number;
  /** Median over rounds of the wall ns per frame sent. */
  wallNs: Record<XdpMode, number>;
  /** Median over rounds of each program's own ns per run, by mode. */
  progNs: Record<XdpMode, Record<string, number>>;
}

export function summariseXdp(p: XdpPlacement): XdpSummary {
  const med = (xs: number[]) => midMedian(xs);
  const mpps = (m: XdpMode) => {
    const xs = p.rounds[m].map((r) => r.pps / 1e6);
    return { median: +med(xs).toFixed(3), min: +Math.min(...xs).toFixed(3), max: +Math.max(...xs).toFixed(3) };
  };
  const progNs = (m: XdpMode) => {
    const rs = p.rounds[m];
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.progNs)))];
    return Object.fromEntries(names.map((n) => [n, Math.round(med(rs.map((r) => r.progNs[n] ?? 0)))]));
  };
  const m = { tc: mpps('tc'), xdp: mpps('xdp') };
  return {
    where: p.where,
    mpps: m,
    ratio: +(m.xdp.median / m.tc.median).toFixed(2),
    wallNs: { tc: Math.round(med(p.rounds.tc.map((r) => r.nsPerPacket))), xdp: Math.round(med(p.rounds.xdp.map((r) => r.nsPerPacket))) },
    progNs: { tc: progNs('tc'), xdp: progNs('xdp') },
  };
}
