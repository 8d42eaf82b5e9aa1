// kube-proxy's informer selector, applied to events: the proxier sees only the Services and
// EndpointSlices labelled for this proxy (service-proxy-name) and not headless. The
// Kubernetes source applies it on the server unless cluster DNS needs every Service; then
// this filter applies it here, turning "stopped matching" into a delete as a server-side
// selector would.
import { proxiedLabels } from '../model/build-table.js';
import type { SourceEvent } from './types.js';

export class ProxiedFilter {
  /** Service and EndpointSlice keys passed on (and not deleted since), by kind. */
  private readonly passed = new Set<string>();

  constructor(private readonly serviceProxyName?: string) {}

  /** The event the proxier should see, or undefined. */
  filter(ev: SourceEvent): SourceEvent | undefined {
    if (ev.kind !== 'Service' && ev.kind !== 'EndpointSlice') return ev;
    const id = `${ev.kind} ${ev.key}`;
    const wanted = ev.type !== 'DELETED' && proxiedLabels(ev.object.metadata?.labels, this.serviceProxyName);
    if (wanted) {
      this.passed.add(id);
      return ev;
    }
    if (!this.passed.delete(id)) return undefined;
    return { ...ev, type: 'DELETED' };
  }
}
