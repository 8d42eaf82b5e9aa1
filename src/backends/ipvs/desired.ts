// ServiceTable → what the kernel should hold, per service port: virtual servers (one per
// frontend address:port:protocol), the addresses bound to kube-ipvs0 and the ipset members.
// Pure. Frontends of a family exist only when the service has a ClusterIP of that family
// (kube-proxy runs one proxier per family and skips services of the other one).
import { type FrontendKind, type NodeView, frontendsOf } from '../../model/frontends.js';
import { hasExternal, selectEndpoints } from '../../model/select-endpoints.js';
import { servicePortNameString } from '../../model/service-port-name.js';
import type { Endpoint, IPFamily, ServicePortEntry, ServiceTable } from '../../model/types.js';
import { type SetEntry, type SetRole, ipPortMember, nodePortMember, nodePortRole, setName } from './ipsets.js';
import { type RealServer, type VirtualServer, canonicalIP, familyOf } from './types.js';
import { canonicalCIDR, cidrContains } from '../../util/cidr.js';

export interface DesiredVirtualServer extends VirtualServer {
  kind: FrontendKind;
}

export interface DesiredService {
  /** ServiceTable key (`ns/name:port/tcp`). */
  key: string;
  /** How errors, logs and ipset comments name the service (serviceLabel). */
  label: string;
  virtualServers: DesiredVirtualServer[];
  /** Addresses this service needs on kube-ipvs0 (ClusterIPs, externalIPs, LoadBalancer IPs). */
  bound: string[];
  sets: SetEntry[];
}

export interface DesiredOptions {
  scheduler: string;
  /** This node: NodePorts answer on its nodePortAddresses; its addresses are local already. */
  view: NodeView;
}

/** How a service is named in errors, logs and ipset comments: `ns/name:port` + `/TCP`. */
export function serviceLabel(svc: ServicePortEntry): string {
  return `${servicePortNameString(svc.name)}/${svc.protocol}`;
}

function realServers(endpoints: readonly Endpoint[], family: IPFamily): RealServer[] {
  const byKey = new Map<string, RealServer>();
  for (const e of endpoints) {
    if (familyOf(e.ip) !== family) continue;
    const ip = canonicalIP(e.ip);
    byKey.set(`${ip}|${e.port}`, { ip, port: e.port, weight: 1, activeConn: 0, inactConn: 0 });
  }
  return [...byKey.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

export function desiredService(svc: ServicePortEntry, opts: DesiredOptions): DesiredService {
  const label = serviceLabel(svc);
  const sel = selectEndpoints(svc, opts.view.nodeName, opts.view.zone);
  const persistence = svc.sessionAffinity.type === 'ClientIP' ? svc.sessionAffinity.timeoutSeconds : undefined;
  const vss: DesiredVirtualServer[] = [];
  const bound: string[] = [];
  const sets: SetEntry[] = [];
  const add = (role: SetRole, family: IPFamily, member: string) => sets.push({ set: setName(role, family), member, comment: label });
  const families = new Set(svc.clusterIPs.map(familyOf));
  const extLocal = svc.externalTrafficPolicy === 'Local';
  // An externalIP or LoadBalancer IP that is already one of the node's addresses (common:
  // externalIPs set to node IPs) is local anyway; binding it to kube-ipvs0 too would let a
  // later unbind delete the node's own local route.
  const nodeAddresses = new Set(opts.view.addresses.map(canonicalIP));
  const bind = (ip: string) => (nodeAddresses.has(ip) ? undefined : bound.push(ip));
  // kube-proxy's IPVS mode (kubernetes#97081): a Local policy that leaves no endpoint on
  // this node falls back to the Cluster endpoints, so pods on this node still reach the
  // service (an external client gets no answer: the reply leaves the endpoint's node
  // un-NATed). Only where kube-proxy has Cluster endpoints at all: the internal policy is
  // Cluster, or the service is reachable from outside.
  const usesCluster = svc.internalTrafficPolicy !== 'Local' || hasExternal(svc);
  const orCluster = (eps: Endpoint[]) => (eps.length === 0 && usesCluster ? sel.cluster : eps);
  const servers = new Map<string, RealServer[]>();
  const serversOf = (external: boolean, family: IPFamily) => {
    const k = `${external}|${family}`;
    if (!servers.has(k)) servers.set(k, realServers(orCluster(external ? sel.external : sel.internal), family));
    return servers.get(k)!;
  };

  for (const f of frontendsOf(svc, opts.view, sel)) {
    if (!families.has(f.family)) continue;
    const ip = canonicalIP(f.address);
    vss.push({ kind: f.kind, protocol: svc.protocol, ip, port: f.port, scheduler: opts.scheduler, ...(persistence !== undefined ? { persistence } : {}), realServers: serversOf(f.external, f.family) });
    const member = ipPortMember(ip, svc.protocol, f.port);
    if (f.kind === 'ClusterIP') {
      bound.push(ip);
      add('CLUSTER-IP', f.family, member);
    } else if (f.kind === 'ExternalIP') {
      bind(ip);
      add(extLocal ? 'EXTERNAL-IP-LOCAL' : 'EXTERNAL-IP', f.family, member);
    } else if (f.kind === 'NodePort' && svc.protocol === 'SCTP') {
      // SCTP node ports are per node address (hash:ip,port), the others per port (below).
      add(nodePortRole(svc.protocol, false), f.family, nodePortMember(svc.protocol, ip, f.port));
      if (extLocal) add(nodePortRole(svc.protocol, true), f.family, nodePortMember(svc.protocol, ip, f.port));
    } else if (f.kind === 'LoadBalancer') {
      bind(ip);
      add('LOAD-BALANCER', f.family, member);
      if (extLocal) add('LOAD-BALANCER-LOCAL', f.family, member);
      const ranges = svc.loadBalancerSourceRanges.filter((c) => familyOf(c.split('/')[0]!) === f.family).map(canonicalCIDR);
      if (ranges.length > 0) {
        add('LOAD-BALANCER-FW', f.family, member);
        // ipset prints a host-wide net without its prefix.
        for (const c of ranges) add('LOAD-BALANCER-SOURCE-CIDR', f.family, `${member},${c.replace(f.family === 4 ? /\/32$/ : /\/128$/, '')}`);
        const primary = opts.view.primaryIPs[f.family];
        if (primary !== undefined && ranges.some((c) => cidrContains(c, primary))) add('LOAD-BALANCER-SOURCE-IP', f.family, `${member},${ip}`);
      }
    }
  }
  for (const family of [...families].sort()) {
    // The TCP/UDP node-port sets hold the port, whatever addresses the node has.
    if (svc.nodePort > 0 && svc.protocol !== 'SCTP') {
      add(nodePortRole(svc.protocol, false), family, String(svc.nodePort));
      if (extLocal) add(nodePortRole(svc.protocol, true), family, String(svc.nodePort));
    }
    if (svc.healthCheckNodePort > 0) add('HEALTH-CHECK-NODE-PORT', family, String(svc.healthCheckNodePort));
    // Hairpin: a pod reaching itself through the service is masqueraded (KUBE-LOOP-BACK).
    // Every endpoint on this node, whatever its conditions (as kube-proxy): only a local
    // pod can reach itself through this node, and a not-ready one may become ready.
    for (const r of realServers(svc.endpoints.filter((e) => e.nodeName === opts.view.nodeName), family)) {
      add('LOOP-BACK', family, `${r.ip},${svc.protocol.toLowerCase()}:${r.port},${r.ip}`);
    }
  }
  for (const ip of new Set(bound)) add('IPVS-IPS', familyOf(ip), ip);
  return { key: svc.key, label, virtualServers: vss, bound: [...new Set(bound)], sets };
}

/** Every service of the table, sorted by key (the order conflicts are resolved in). */
export function desiredState(table: ServiceTable, opts: DesiredOptions): DesiredService[] {
  return [...table.services.values()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((svc) => desiredService(svc, opts));
}
