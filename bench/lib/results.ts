// The raw data one `make bench` run writes (bench/results/<date>-<machine>.json), from which
// the tables, charts and target checks are drawn.
import type { PathCosts, ProgSample } from './bpf-runtime.js';
import type { Mode } from './modes.js';
import type { XdpPlacement } from './xdp-pps.js';

/** One mode on a fresh topology at one scale, one round. */
export interface DataRow {
  scale: number;
  /** Services actually installed (scale, plus the services added by the control-plane steps). */
  services: number;
  round: number;
  /** Position of this mode in its round (the order alternates across rounds). */
  order: number;
  mode: Mode;
  /** Proxy spawned → its first full sync done (list from the API server included). */
  startToSyncMs: number | null;
  connectP50Us: number;
  connectP99Us: number;
  shortRps: number;
  shortLatencyP50Us: number;
  shortLatencyP99Us: number;
  shortErrors: number;
  keepAliveRps: number;
  gbpsUp: number;
  gbpsDown: number;
  /** Machine-wide kernel time (system; softirq + irq) during the short-connection run, per 1k connections. */
  systemMsPer1kConn: number;
  softirqMsPer1kConn: number;
  /** The proxy process's own CPU (user + system, its children included) during the short-connection run, per 1k connections. */
  proxyCpuMsPer1kConn?: number | null;
  rssMB: number | null;
  /** ebpf: conntrack GC passes and their total time over the mode's run (the proxy's own histogram). */
  gcPasses?: number | null;
  gcMs?: number | null;
}

/** Control-plane steps of one proxy at one scale (through the API server, production settings). */
export interface ControlRow {
  scale: number;
  mode: Mode;
  /** Network programming latency (the proxy's own kubeproxy_network_programming_duration_seconds), ms. */
  changeMs: number[];
  addMs: number[];
  startToSyncMs: number | null;
  rssMB: number | null;
}

/** bench/control-plane.ts's row for one size (ebpf backend in-process, no API server). */
export interface EbpfControlRow {
  services: number;
  fullSyncMs: number;
  verifyMs: number;
  changeP50: number;
  changeP99: number;
  addP50: number;
  addP99: number;
  rssEndMB: number;
  loadMs: number;
}

export interface PerPacketRow {
  scale: number;
  round: number;
  samples: Record<'pass' | 'up' | 'down' | 'short' | 'keepAlive', ProgSample>;
  paths: PathCosts;
}

export interface BenchResults {
  meta: {
    date: string;
    machine: string;
    kernel: string;
    commit: string;
    node: string;
    cpus: number;
    quick: boolean;
    /** make bench-guest: IPVS in the 6.1 guest under TCG (absent in older files). */
    guest?: boolean;
    loadBefore: number[];
    loadAfter: number[];
    durationS: number;
    settings: Record<string, unknown>;
    notes: string[];
  };
  dataplane: DataRow[];
  control: ControlRow[];
  ebpfControlPlane: EbpfControlRow[];
  perPacket: PerPacketRow[];
  /** North-south NodePort packet rate, xdp_lb beside tc_lb (bench/lib/xdp-pps.ts); absent in older files. */
  xdp?: XdpPlacement[];
  dns: string | null;
  targets: TargetCheck[];
}

export interface TargetCheck {
  what: string;
  got: number | null;
  target: string;
  met: boolean | null;
  /** An input's rounds spread (max ÷ min) wider than 1.25: the verdict is not to be trusted. */
  noisy?: boolean;
}
