// Current objects by kind, fed by source events; snapshot() gives the whole-table build's
// input (one-shot commands). The running proxier feeds events to its change tracker instead.
import type { V1EndpointSlice, V1Node, V1Service, KubernetesObject } from '@kubernetes/client-node';
import type { ClusterObjects, Sourced } from '../model/build-table.js';
import type { SourceEvent, SourceKind } from './types.js';

export class ObjectStore {
  private readonly byKind = new Map<SourceKind, Map<string, Sourced<KubernetesObject>>>();

  apply(ev: SourceEvent): void {
    let m = this.byKind.get(ev.kind);
    if (!m) this.byKind.set(ev.kind, (m = new Map()));
    if (ev.type === 'DELETED') m.delete(ev.key);
    else m.set(ev.key, { obj: ev.object, source: ev.source });
  }

  list<T extends KubernetesObject>(kind: SourceKind): Sourced<T>[] {
    const m = this.byKind.get(kind);
    if (!m) return [];
    // Sorted by key so the model sees objects in a stable order.
    return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v as Sourced<T>);
  }

  snapshot(): ClusterObjects {
    return {
      services: this.list<V1Service>('Service'),
      endpointSlices: this.list<V1EndpointSlice>('EndpointSlice'),
      nodes: this.list<V1Node>('Node'),
    };
  }
}
