// ns/packet of the attached eBPF programs from the kernel's own accounting (BPF_ENABLE_STATS:
// run_time_ns / run_cnt), with tc_lb's packets by path (dp_stats) over the same interval.
// The counters give one total per program, not per path: per-path costs are derived by
// solving several workload mixes (solvePaths: two mixes for two unknowns, then the rest by difference).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { libbpf } from '../../src/backends/ebpf/libbpf.js';
import { openPinnedStats } from '../../src/backends/ebpf/stats.js';

export interface ProgSample {
  /** Program runs and their total run time over the workload, by pinned program name. */
  progs: Record<string, { runs: number; ns: number }>;
  /** tc_lb's dp_stats deltas; `other` = tc_lb runs that took no counted path. */
  paths: { new: number; established: number; reply: number; other: number };
}

/** Every program pinned under a pin root (prog_tc_lb today; an XDP program when there is one). */
export class ProgStats {
  private readonly progs: Array<[string, number]>;
  private readonly counters: ReturnType<typeof openPinnedStats>;
  private statsFd: number | undefined;

  constructor(pinRoot: string) {
    this.progs = readdirSync(pinRoot)
      .filter((f) => f.startsWith('prog_'))
      .map((f) => [f.slice('prog_'.length), libbpf.getPinned(join(pinRoot, f))]);
    this.counters = openPinnedStats(pinRoot);
    if (!this.counters) throw new Error(`no dp_stats map pinned under ${pinRoot}`);
    // Run-time stats are on while this fd is open (kernel.bpf_stats_enabled otherwise).
    this.statsFd = libbpf.enableStats();
  }

  private snapshot() {
    return { info: this.progs.map(([name, fd]) => [name, libbpf.progInfo(fd)] as const), dp: this.counters!.read() };
  }

  async sample(work: () => Promise<unknown>): Promise<ProgSample> {
    const a = this.snapshot();
    await work();
    const b = this.snapshot();
    const progs: ProgSample['progs'] = {};
    b.info.forEach(([name, i], k) => {
      progs[name] = { runs: Number(i.runCnt - a.info[k]![1].runCnt), ns: Number(i.runTimeNs - a.info[k]![1].runTimeNs) };
    });
    const d = (k: string) => b.dp.packets[k]! - a.dp.packets[k]!;
    const lbRuns = progs.tc_lb?.runs ?? 0;
    const paths = { new: d('new'), established: d('established'), reply: d('reply'), other: 0 };
    paths.other = lbRuns - paths.new - paths.established - paths.reply;
    return { progs, paths };
  }

  close(): void {
    if (this.statsFd !== undefined) libbpf.closeFd(this.statsFd);
    this.statsFd = undefined;
    for (const [, fd] of this.progs) libbpf.closeFd(fd);
    this.counters?.close();
  }
}

export interface PathCosts {
  /** tc_lb on a packet with no flow and no frontend (traffic to a pod IP). */
  pass: number;
  /** Bulk-flow packets (iperf3): forward (established) and reply, solved from two mixes. */
  established: number;
  reply: number;
  /** Established + reply packets of keep-alive HTTP (wrk), together: the counters cannot split one mix. */
  keepAlive: number;
  /** A connection's first packet (flow created, backend chosen). */
  new: number;
}

/**
 * Per-path ns/packet of tc_lb from the workload mixes, each with its packets by path:
 * - pass: iperf3 to the pod IP (every run is a no-match);
 * - established and reply: iperf3 up and down through the VIP, two mixes and two unknowns;
 * - keepAlive: wrk keep-alive's established and reply packets together (small HTTP packets,
 *   the same kind a short connection sends after its SYN);
 * - new: the short-connection run minus its other packets at the keep-alive cost. (Using the
 *   bulk flows' costs instead gives a negative figure: their GSO packets are not the cost of
 *   small ones.)
 */
export function solvePaths(w: { pass: ProgSample; up: ProgSample; down: ProgSample; short: ProgSample; keepAlive: ProgSample }): PathCosts {
  const lb = (s: ProgSample) => s.progs.tc_lb ?? { runs: 0, ns: 0 };
  const pass = lb(w.pass).ns / lb(w.pass).runs;
  const rhs = (s: ProgSample) => lb(s).ns - pass * s.paths.other;
  const { up, down, short, keepAlive: ka } = w;
  const det = up.paths.established * down.paths.reply - up.paths.reply * down.paths.established;
  const established = (rhs(up) * down.paths.reply - up.paths.reply * rhs(down)) / det;
  const reply = (up.paths.established * rhs(down) - rhs(up) * down.paths.established) / det;
  // Its handful of new packets (one per wrk connection) are counted in: a rounding error.
  const keepAlive = rhs(ka) / (ka.paths.established + ka.paths.reply + ka.paths.new);
  const fresh = (rhs(short) - keepAlive * (short.paths.established + short.paths.reply)) / short.paths.new;
  return { pass, established, reply, keepAlive, new: fresh };
}
