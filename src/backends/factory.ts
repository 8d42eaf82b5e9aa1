// Builds the backend named by --backend. Backends are imported lazily so that, e.g.,
// the iptables backend never loads the native BPF addon.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import type { Backend, BackendName } from '../proxier/backend.js';
import type { PortRange } from '../util/port-range.js';
import type { MapSizes } from './ebpf/abi.js';
import type { LbOptions } from './ebpf/render.js';
import type { XdpSetting } from './ebpf/xdp-attach.js';

export const BACKEND_NAMES: readonly BackendName[] = ['ebpf', 'iptables', 'ipvs'];

export interface BackendConfig {
  clusterCIDRs: string[];
  masqueradeAll: boolean;
  /** --nodeport-addresses CIDRs (empty: every node address). */
  nodePortAddresses?: string[];
  /** iptables, ipvs: --iptables-mode (nft or legacy binaries; default the system's iptables). */
  iptablesMode?: 'nft' | 'legacy';
  /** --iptables-localhost-nodeports (iptables; ebpf honours it too for its socket LB's 127.0.0.1 NodePorts). */
  localhostNodePorts?: boolean;
  /** ebpf: bpffs directory holding maps and programs. */
  pinRoot: string;
  /** ebpf: cgroup v2 directory for socket-level LB of host-network clients (unset: no socket LB);
   * the CLI defaults it to the node's cgroup2 root (--socket-lb, socket-lb.ts). */
  cgroupPath?: string;
  /** ebpf: where cgroupPath came from ("--cgroup-path", "cgroup2 root …"), for the log. */
  cgroupPathSource?: string;
  /** ebpf: said with the attach when cgroupPath is not the hierarchy's root (socket-lb.ts). */
  cgroupPathWarning?: string;
  /** ebpf: why there is no socket LB (--socket-lb=false, no cgroup2 mount), logged once. */
  socketLbOff?: string;
  /** ebpf: --socket-lb-host-netns-only: only sockets of the node's network namespace. */
  socketLbHostNetnsOnly?: boolean;
  /** ebpf: source address used to SNAT hairpin traffic. */
  hairpinAddress?: string;
  /** ebpf: source ports for SNATed flows, inclusive (default 61000–65535). */
  snatPortRange?: PortRange;
  /** ebpf: conntrack garbage collection period in ms (0 = off); default 5000. */
  conntrackGcIntervalMs?: number;
  /** ebpf: entries of the sized maps (--bpf-map-sizes); unset ones keep the ABI default. */
  mapSizes?: MapSizes;
  /** ebpf: --lb-algorithm, --maglev-table-size, --maglev-seed (unset: random). */
  lb?: LbOptions;
  /** ebpf: --xdp auto|native|generic|off (default auto): xdp_lb on the external interface(s). */
  xdp?: XdpSetting;
  /** ebpf: --xdp-local-redirect: xdp_lb redirects into local pods' veths too. */
  xdpLocalRedirect?: boolean;
  /** ipvs: scheduler (rr, wrr, lc, ...). */
  ipvsScheduler: string;
  logger: Logger;
  metrics?: Metrics;
}

export async function createBackend(name: BackendName, cfg: BackendConfig): Promise<Backend> {
  switch (name) {
    case 'iptables': {
      const { IptablesBackend } = await import('./iptables/index.js');
      return new IptablesBackend({
        clusterCIDRs: cfg.clusterCIDRs, masqueradeAll: cfg.masqueradeAll, nodePortAddresses: cfg.nodePortAddresses, localhostNodePorts: cfg.localhostNodePorts,
        mode: cfg.iptablesMode, logger: cfg.logger, metrics: cfg.metrics,
      });
    }
    case 'ebpf': {
      const mod = (await import('./ebpf/index.js')) as { createEbpfBackend(cfg: BackendConfig): Promise<Backend> };
      return mod.createEbpfBackend(cfg);
    }
    case 'ipvs': {
      const { IpvsBackend } = await import('./ipvs/index.js');
      return new IpvsBackend({
        scheduler: cfg.ipvsScheduler,
        clusterCIDRs: cfg.clusterCIDRs,
        masqueradeAll: cfg.masqueradeAll,
        nodePortAddresses: cfg.nodePortAddresses,
        iptablesMode: cfg.iptablesMode,
        logger: cfg.logger,
        metrics: cfg.metrics,
      });
    }
  }
}

export function parseBackendName(v: string): BackendName {
  if ((BACKEND_NAMES as string[]).includes(v)) return v as BackendName;
  throw new Error(`--backend: want one of ${BACKEND_NAMES.join(', ')}, got ${JSON.stringify(v)}`);
}
