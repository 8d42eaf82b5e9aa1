// Service port → the frontends it answers on, once for every backend: ClusterIPs, NodePorts
// on this node's addresses, external IPs and LoadBalancer ingress IPs, each with the
// endpoints its traffic policy selects. Pure; the node's addresses come from the NodeView
// (the Node object ∩ --nodeport-addresses), never from the host's interfaces.
import { isIPv4 } from 'node:net';
import { type SelectedEndpoints, selectEndpoints } from './select-endpoints.js';
import type { Endpoint, IPFamily, NodeInfo, ServicePortEntry, ServiceTable } from './types.js';
import { cidrContains } from '../util/cidr.js';

export type FrontendKind = 'ClusterIP' | 'NodePort' | 'ExternalIP' | 'LoadBalancer';

/** This node as the rules of one service see it: its name (Local policies), zone (topology hints), primary addresses. */
export interface ThisNode {
  nodeName: string;
  /** The Node's topology.kubernetes.io/zone label. */
  zone?: string;
  /** The Node's first address of each family (InternalIP before ExternalIP): kube-proxy's "node IP". */
  primaryIPs: Partial<Record<IPFamily, string>>;
}

/** What this node knows about itself, computed once per sync. */
export interface NodeView extends ThisNode {
  /** Every address of the Node object (InternalIP/ExternalIP), whatever --nodeport-addresses says. */
  addresses: string[];
  /** Node addresses NodePorts answer on: the Node's InternalIP/ExternalIPs ∩ --nodeport-addresses. */
  nodePortAddresses: string[];
  podCIDRs: string[];
}

export interface Frontend {
  kind: FrontendKind;
  address: string;
  port: number;
  family: IPFamily;
  /** External traffic (NodePort, external IP, LB IP): externalTrafficPolicy applies. */
  external: boolean;
  /** Endpoints new flows may pick (policy and readiness applied). */
  endpoints: Endpoint[];
  /** No endpoint selected although the service has some (a Local policy): drop, not reject. */
  dropEmpty: boolean;
}

export function thisNode(table: ServiceTable): ThisNode {
  const node = table.nodes.get(table.nodeName);
  const primaryIPs: Partial<Record<IPFamily, string>> = {};
  for (const a of node?.addresses ?? []) primaryIPs[familyOf(a)] ??= a;
  return { nodeName: table.nodeName, ...(node?.zone !== undefined ? { zone: node.zone } : {}), primaryIPs };
}

/** kube-proxy's --nodeport-addresses keywords (besides CIDRs). */
export const NODEPORT_KEYWORDS = ['primary', 'all'] as const;

/**
 * --nodeport-addresses for one family, as kube-proxy reads it: the CIDRs of that family,
 * with `primary` the Node's first address of the family (InternalIP before ExternalIP) and
 * `all` every address. Undefined: every address of the family (no entry for it, or `all`
 * or a /0 among them; iptables then matches `addrtype LOCAL`).
 */
export function nodePortCIDRsOf(entries: readonly string[], node: NodeInfo | undefined, family: IPFamily): string[] | undefined {
  const out: string[] = [];
  for (const e of entries) {
    if (e === 'all') return undefined;
    if (e === 'primary') {
      const primary = node?.addresses.find((a) => familyOf(a) === family);
      if (primary) out.push(`${primary}/${family === 4 ? 32 : 128}`);
    } else if (familyOf(e.split('/')[0]!) === family) {
      if (e.endsWith('/0')) return undefined;
      out.push(e);
    }
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Whether --nodeport-addresses lets NodePorts answer on 127.0.0.1, as kube-proxy decides it
 * for localhost NodePorts: no IPv4 entry, `all`, or an IPv4 CIDR holding 127.0.0.1 (`primary`
 * is the Node's address, never loopback). IPv4 only: kube-proxy never serves ::1.
 */
export function nodePortAddressesCoverLoopback(entries: readonly string[]): boolean {
  const v4 = entries.filter((e) => e === 'all' || e === 'primary' || familyOf(e.split('/')[0]!) === 4);
  return v4.length === 0 || v4.some((e) => e === 'all' || (e !== 'primary' && cidrContains(e, '127.0.0.1')));
}

export function nodeViewOf(table: ServiceTable, nodePortAddresses: readonly string[] = []): NodeView {
  const node = table.nodes.get(table.nodeName);
  const addrs = node?.addresses ?? [];
  const cidrs = { 4: nodePortCIDRsOf(nodePortAddresses, node, 4), 6: nodePortCIDRsOf(nodePortAddresses, node, 6) };
  const serves = (a: string) => cidrs[familyOf(a)]?.some((c) => cidrContains(c, a)) ?? true;
  return {
    ...thisNode(table),
    addresses: [...addrs],
    nodePortAddresses: addrs.filter(serves),
    podCIDRs: node?.podCIDRs ?? [],
  };
}

const familyOf = (ip: string): IPFamily => (isIPv4(ip) ? 4 : 6);

/**
 * Every frontend of a service port, in a fixed order (ClusterIPs, NodePorts, external IPs,
 * LB IPs). `sel` saves selecting the endpoints again when the caller already did.
 */
export function frontendsOf(svc: ServicePortEntry, view: NodeView, sel: SelectedEndpoints = selectEndpoints(svc, view.nodeName, view.zone)): Frontend[] {
  const out: Frontend[] = [];
  const add = (kind: FrontendKind, addresses: readonly string[], port: number, external: boolean) => {
    const endpoints = external ? sel.external : sel.internal;
    for (const address of addresses)
      out.push({ kind, address, port, family: familyOf(address), external, endpoints, dropEmpty: endpoints.length === 0 && sel.hasAny });
  };
  add('ClusterIP', svc.clusterIPs, svc.port, false);
  if (svc.nodePort > 0) add('NodePort', view.nodePortAddresses, svc.nodePort, true);
  add('ExternalIP', svc.externalIPs, svc.port, true);
  add('LoadBalancer', svc.loadBalancerIPs, svc.port, true);
  return out;
}
