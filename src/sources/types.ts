// What every source (manifests directory, Kubernetes API) emits: informer-shaped events.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { InputProblem } from '../model/types.js';

export const SOURCE_KINDS = ['Service', 'EndpointSlice', 'Node', 'Pod', 'Namespace'] as const;
/** Kinds without a namespace: their key is the name alone. */
export const CLUSTER_SCOPED: readonly SourceKind[] = ['Node', 'Namespace'];
export type SourceKind = (typeof SOURCE_KINDS)[number];

export interface SourceEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: SourceKind;
  /** `namespace/name` (`name` alone for cluster-scoped Nodes and Namespaces). */
  key: string;
  object: KubernetesObject;
  /** File path (manifests) or "api" (kubernetes). */
  source: string;
}

export interface SourceHandlers {
  onEvent(ev: SourceEvent): void;
  onProblem(p: InputProblem): void;
  /** Called once the initial list is complete (informers' "synced"). */
  onSynced?(): void;
}

export interface Source {
  start(h: SourceHandlers): Promise<void>;
  stop(): Promise<void>;
}
