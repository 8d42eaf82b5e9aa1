// The one interface every data plane implements. Rendering (table → rules/map entries)
// is kept pure inside each backend; `sync` is where it touches the kernel.
import type { ServiceTable, TableDiff } from '../model/types.js';

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

export interface Backend {
  readonly name: BackendName;
  /** Program the kernel so that it matches `table`; `diff` says what changed since the last successful sync. */
  sync(table: ServiceTable, diff: TableDiff, opts: SyncOptions): Promise<void>;
  /** Remove everything this backend ever programmed (bpfproxy --cleanup). */
  cleanup(): Promise<void>;
  /** Read what is programmed (from the kernel where the backend can). */
  inspect(): Promise<InspectRow[]>;
  /** Release resources held by this process (not kernel state). */
  close?(): Promise<void>;
}
