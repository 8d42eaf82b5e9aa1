// Endpoint selection, once for every backend (kube-proxy's CategorizeEndpoints): ready
// endpoints when there are any, else serving+terminating ones; Local traffic policies
// restrict to endpoints on this node; topology hints (trafficDistribution PreferSameNode /
// PreferSameZone, topology-aware routing) narrow the Cluster-policy endpoints.
import type { Endpoint, ServicePortEntry } from './types.js';

export interface SelectedEndpoints {
  /** Endpoints for traffic governed by the Cluster policy (internal traffic unless iTP=Local). */
  cluster: Endpoint[];
  /** Endpoints on this node (for eTP/iTP=Local), same ready→terminating fallback. */
  local: Endpoint[];
  /** What internal (ClusterIP) traffic uses: `local` when internalTrafficPolicy is Local. */
  internal: Endpoint[];
  /** What external (NodePort/externalIP/LB) traffic uses: `local` when externalTrafficPolicy is Local. */
  external: Endpoint[];
  /** True if the service has any endpoint at all (used for REJECT vs DROP decisions). */
  hasAny: boolean;
}

/** Ready endpoints if any; otherwise serving+terminating ones (graceful fallback). */
export function usable(endpoints: readonly Endpoint[]): Endpoint[] {
  const ready = endpoints.filter((e) => e.ready);
  if (ready.length > 0) return ready;
  return endpoints.filter((e) => e.serving && e.terminating);
}

/**
 * Which hints apply, as kube-proxy decides it from the ready endpoints: node hints when every
 * one has some and one names this node, else zone hints when every one has some and one
 * names this node's zone, else none (all endpoints).
 */
function topologyFilter(endpoints: readonly Endpoint[], nodeName: string, zone: string | undefined): ((e: Endpoint) => boolean) | undefined {
  const ready = endpoints.filter((e) => e.ready);
  if (ready.length === 0) return undefined;
  if (ready.every((e) => e.nodeHints) && ready.some((e) => e.nodeHints!.includes(nodeName))) return (e) => e.nodeHints?.includes(nodeName) ?? false;
  if (zone !== undefined && ready.every((e) => e.zoneHints) && ready.some((e) => e.zoneHints!.includes(zone))) return (e) => e.zoneHints?.includes(zone) ?? false;
  return undefined;
}

export function selectEndpoints(svc: ServicePortEntry, nodeName: string, zone?: string): SelectedEndpoints {
  // Hints narrow the ready endpoints only; the terminating fallback ignores them (as kube-proxy).
  const near = topologyFilter(svc.endpoints, nodeName, zone);
  const ready = svc.endpoints.filter((e) => e.ready && (near?.(e) ?? true));
  const cluster = ready.length > 0 ? ready : usable(svc.endpoints);
  const local = usable(svc.endpoints.filter((e) => e.nodeName === nodeName));
  return {
    cluster,
    local,
    internal: svc.internalTrafficPolicy === 'Local' ? local : cluster,
    external: svc.externalTrafficPolicy === 'Local' && hasExternal(svc) ? local : cluster,
    hasAny: cluster.length > 0,
  };
}

/** Whether the service is reachable from outside the cluster (NodePort, external IPs, LB). */
export function hasExternal(svc: ServicePortEntry): boolean {
  return svc.nodePort > 0 || svc.externalIPs.length > 0 || svc.loadBalancerIPs.length > 0;
}
