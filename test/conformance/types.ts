// A conformance case: objects in, real connections from client namespaces, assertions
// on who answered. Cases know nothing about backends.
import type { NodeProxy } from '../harness/proxy-process.js';
import type { ObjectWriter } from '../harness/manifests.js';
import type { Topology } from '../harness/topology.js';
import type { RequestLoop, RequestOptions, RequestResult } from '../harness/client.js';

export type ConformanceSource = 'manifests' | 'kubernetes';

export interface ConformanceContext {
  topo: Topology;
  /** node-a's proxy (where the default client lives). */
  proxy: NodeProxy;
  /** Every node's proxy by node name. */
  proxies: Map<string, NodeProxy>;
  /** Where cases write their objects: the manifests directory, or the API server (ApiWriter). */
  manifests: ObjectWriter;
  /** Which source the proxies read: a manifests directory or the Kubernetes API. */
  source: ConformanceSource;
  backend: string;
  /** Requests from the client namespace (or `from`: a pod name, or a node name for a client in the node's own namespace). */
  request(target: string, opts?: RequestOptions & { from?: string }): Promise<RequestResult[]>;
  /** The same requests as a loop in the background (`count` is its bound); stopped when the case ends. */
  requestLoop(target: string, opts?: RequestOptions & { from?: string }): RequestLoop;
  /** Everything sent so far in this case (printed when the case fails). */
  log: string[];
  /** Each node's state before its proxy first started (see harness/snapshot.ts). */
  baseline: Map<string, Record<string, string>>;
  /** Deletes some of what the backend programmed on node-a behind its back (backend-specific). */
  tamper(): Promise<void>;
  /** Packets the backend's fast path (ebpf: XDP) handled on a node so far; absent without one. */
  fastPathPackets?(node: string): Promise<number>;
  /** How long a change may take to show: one sync period plus file-watch latency, plus
   * (in the qemu guest, where every tool start costs ~0.5 s) a sync's own duration. */
  syncDeadlineMs: number;
}

export interface ConformanceCase {
  id: string;
  title: string;
  run(ctx: ConformanceContext): Promise<void>;
}
