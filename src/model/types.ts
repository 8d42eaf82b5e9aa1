// The proxy's model: what every backend, the DNS responder and the CLI read.
// Built from Kubernetes objects by pure functions (build-table.ts), or kept up to date
// one service at a time by the change tracker (change-tracker.ts). A ServicePortEntry is
// never mutated once built; the proxier's table is (entries are replaced), so a backend
// that needs "what it applied" keeps its own entries, not the table.

import type { LbAlgorithm } from './lb-algorithm.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type IPFamily = 4 | 6;
export type TrafficPolicy = 'Cluster' | 'Local';

/** kube-proxy's ServicePortName: namespace/name:port (port omitted when unnamed) + protocol. */
export interface ServicePortName {
  namespace: string;
  name: string;
  /** The Service port's `name`; '' for an unnamed port. */
  port: string;
  protocol: Protocol;
}

export interface Endpoint {
  ip: string;
  /** Target port resolved for this service port (numeric). */
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  /** Topology hints the EndpointSlice controller set (trafficDistribution, topology-aware routing). */
  zoneHints?: string[];
  nodeHints?: string[];
  /** Pod name when the slice names a Pod as targetRef (used by DNS and inspect). */
  podName?: string;
  hostname?: string;
}

export type SessionAffinity =
  | { type: 'None' }
  | { type: 'ClientIP'; timeoutSeconds: number };

/** One proxied service port (one entry per Service port; IPv4 and IPv6 ClusterIPs both listed). */
export interface ServicePortEntry {
  /** Stable key: `ns/name:port/tcp` (see servicePortKey). */
  key: string;
  name: ServicePortName;
  /** All ClusterIPs of the Service (single or dual stack). */
  clusterIPs: string[];
  port: number;
  protocol: Protocol;
  /** 0 when the Service has no node port. */
  nodePort: number;
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** Sources allowed to reach the LoadBalancer IPs (empty: any); NodePorts and externalIPs are not restricted. */
  loadBalancerSourceRanges: string[];
  sessionAffinity: SessionAffinity;
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  /** NodePort/LoadBalancer health check port for externalTrafficPolicy Local (0 = none). */
  healthCheckNodePort: number;
  /** Every endpoint the slices list for this port, unfiltered, sorted by ip. */
  endpoints: Endpoint[];
  /** eBPF backend: the `bpfproxy.io/lb-algorithm` annotation (absent: --lb-algorithm decides). */
  lbAlgorithm?: LbAlgorithm;
}

/** The whole desired state: service ports by key. */
export interface ServiceTable {
  services: ReadonlyMap<string, ServicePortEntry>;
  /** The node this proxy runs on (for Local traffic policies). */
  nodeName: string;
  /** Nodes known to the source: name → addresses (InternalIP/ExternalIP). */
  nodes: ReadonlyMap<string, NodeInfo>;
}

export interface NodeInfo {
  name: string;
  addresses: string[];
  podCIDRs: string[];
  /** The Node's topology.kubernetes.io/zone label (topology hints). */
  zone?: string;
}

/** A problem with one input object; the object is skipped, everything else keeps working. */
export interface InputProblem {
  /** Where it came from (file path, or "api" for the kubernetes source). */
  source: string;
  /** `Kind ns/name` (or as much as could be read). */
  object: string;
  /** JSON-path like field, e.g. `spec.ports[0].port`. */
  field: string;
  message: string;
  /** The object is still used, without this field's value (e.g. an unknown annotation value). */
  kept?: boolean;
}

/**
 * One service port that changed since the last successful sync (kube-proxy's change
 * tracker): `previous` is what was last applied (absent: added), `current` what is wanted
 * now (absent: removed). Both absent never happens.
 */
export interface ServicePortChange {
  key: string;
  previous?: ServicePortEntry;
  current?: ServicePortEntry;
}
