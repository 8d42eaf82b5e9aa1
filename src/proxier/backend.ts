// The one interface every data plane implements. Rendering (table → rules/map entries)
// is kept pure inside each backend; `sync` is where it touches the kernel.
//
// Failure contract, the same for all three: `sync` programs every service port it can and
// returns the ones it could not, each with a reason; each of those keeps its previous
// kernel state. The proxier owns what follows (logs, failure metrics, retry with backoff,
// re-sending exactly those changes). A thrown error means nothing can be trusted this
// round (e.g. the data plane would not load): every change is retried.
import type { ServicePortChange, ServiceTable } from '../model/types.js';

export type BackendName = 'ebpf' | 'iptables' | 'ipvs';

/** One row of `bpfproxy inspect`, like a line group of `ipvsadm -Ln`. */
export interface InspectRow {
  /** ServicePortName string, e.g. `default/hostnames` or `ns/svc:http`. */
  service: string;
  protocol: string;
  /** Frontend address `VIP:port` (or `[v6]:port`), one row per frontend. */
  frontend: string;
  /** Which kind of frontend: ClusterIP, NodePort, ExternalIP, LoadBalancer. */
  kind: string;
  backends: string[];
  /** LoadBalancer frontends with loadBalancerSourceRanges: the source CIDRs new flows may come from. */
  sourceRanges?: string[];
  /** ebpf: how new flows pick a backend when not the default (random): `maglev`, with its table size. */
  algorithm?: 'maglev';
  maglevTableSize?: number;
}

export interface SyncOptions {
  /** True on the first sync and every full-sync period (1 h): rewrite everything, not only the diff. */
  full: boolean;
  /**
   * True when a sync-period has passed since the kernel was last checked: the backend
   * should look for state changed behind its back (iptables: the canary and the shared
   * chains; ebpf: re-read the maps) even when nothing changed in the table.
   */
  verify?: boolean;
}

/** What a sync is given: the whole wanted table, and what changed since the last success. */
export interface TableUpdate {
  table: ServiceTable;
  /**
   * Service ports changed since the last successful sync, with what was applied before.
   * Absent: the caller does not know (a bare table, as in tests), so the backend compares
   * every service port against what it applied.
   */
  changes?: readonly ServicePortChange[];
}

export interface SyncResult {
  /** Service ports (by key) that were not programmed, and why; each keeps its previous state. */
  failed: Array<[key: string, reason: string]>;
}

export interface Backend {
  readonly name: BackendName;
  /** Program the kernel so that it matches `update.table`. */
  sync(update: TableUpdate, opts: SyncOptions): Promise<SyncResult>;
  /** Remove everything this backend ever programmed (bpfproxy --cleanup). */
  cleanup(): Promise<void>;
  /** Read what is programmed (from the kernel where the backend can). */
  inspect(): Promise<InspectRow[]>;
  /** Release resources held by this process (not kernel state). */
  close?(): Promise<void>;
}
