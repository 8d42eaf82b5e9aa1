// ServiceTable → what the kernel should hold, per service port: virtual servers (one per
// frontend address:port:protocol), the addresses bound to kube-ipvs0 and the ipset members.
// Pure. Frontends of a family exist only when the service has a ClusterIP of that family
// (kube-proxy runs one proxier per family and skips services of the other one).
import { selectEndpoints } from '../../model/select-endpoints.js';
import { servicePortNameString } from '../../model/service-port-name.js';
import type { Endpoint, IPFamily, ServicePortEntry, ServiceTable } from '../../model/types.js';
import { type SetEntry, ipPortMember, nodePortRole, setName } from './ipsets.js';
import { type FrontendKind, type RealServer, type VirtualServer, canonicalIP, familyOf } from './types.js';

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
  /** The node's own addresses (both families) NodePorts answer on. */
  nodeIPs: readonly string[];
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

export function desiredService(svc: ServicePortEntry, nodeName: string, opts: DesiredOptions): DesiredService {
  const label = serviceLabel(svc);
  const sel = selectEndpoints(svc, nodeName);
  const persistence = svc.sessionAffinity.type === 'ClientIP' ? svc.sessionAffinity.timeoutSeconds : undefined;
  const vss: DesiredVirtualServer[] = [];
  const bound: string[] = [];
  const sets: SetEntry[] = [];
  const add = (set: string, member: string) => sets.push({ set, member, comment: label });
  const families = [...new Set(svc.clusterIPs.map(familyOf))].sort();
  const extLocal = svc.externalTrafficPolicy === 'Local';
  const nodeIPs = new Set(opts.nodeIPs.map(canonicalIP));

  for (const family of families) {
    const internal = realServers(sel.internal, family);
    const external = realServers(sel.external, family);
    const vs = (kind: FrontendKind, ip: string, port: number, rs: RealServer[]) =>
      vss.push({ kind, protocol: svc.protocol, ip, port, scheduler: opts.scheduler, ...(persistence !== undefined ? { persistence } : {}), realServers: rs });
    const set = (role: Parameters<typeof setName>[0]) => setName(role, family);
    const addrs = (list: readonly string[]) => list.filter((ip) => familyOf(ip) === family).map(canonicalIP);

    for (const ip of addrs(svc.clusterIPs)) {
      vs('ClusterIP', ip, svc.port, internal);
      bound.push(ip);
      add(set('CLUSTER-IP'), ipPortMember(ip, svc.protocol, svc.port));
    }
    // An externalIP or LoadBalancer IP that is already one of the node's addresses (common:
    // externalIPs set to node IPs) is local anyway; binding it to kube-ipvs0 too would let a
    // later unbind delete the node's own local route.
    const bind = (ip: string) => (nodeIPs.has(ip) ? undefined : bound.push(ip));
    for (const ip of addrs(svc.externalIPs)) {
      vs('ExternalIP', ip, svc.port, external);
      bind(ip);
      add(set(extLocal ? 'EXTERNAL-IP-LOCAL' : 'EXTERNAL-IP'), ipPortMember(ip, svc.protocol, svc.port));
    }
    for (const ip of addrs(svc.loadBalancerIPs)) {
      vs('LoadBalancer', ip, svc.port, external);
      bind(ip);
      add(set('LOAD-BALANCER'), ipPortMember(ip, svc.protocol, svc.port));
      if (extLocal) add(set('LOAD-BALANCER-LOCAL'), ipPortMember(ip, svc.protocol, svc.port));
    }
    if (svc.nodePort > 0) {
      for (const ip of addrs(opts.nodeIPs)) vs('NodePort', ip, svc.nodePort, external);
      add(set(nodePortRole(svc.protocol, false)), String(svc.nodePort));
      if (extLocal) add(set(nodePortRole(svc.protocol, true)), String(svc.nodePort));
    }
    // Hairpin: a pod reaching itself through the service is masqueraded (KUBE-LOOP-BACK).
    const eps = new Map([...internal, ...external].map((r) => [`${r.ip}|${r.port}`, r]));
    for (const r of eps.values()) add(set('LOOP-BACK'), `${r.ip},${svc.protocol.toLowerCase()}:${r.port},${r.ip}`);
  }
  for (const v of vss) {
    if (v.realServers.length === 0) sets.push({ set: setName('NO-ENDPOINTS', familyOf(v.ip)), member: ipPortMember(v.ip, v.protocol, v.port), comment: label });
  }
  for (const ip of new Set(bound)) sets.push({ set: setName('IPVS-IPS', familyOf(ip)), member: ip, comment: label });
  return { key: svc.key, label, virtualServers: vss, bound: [...new Set(bound)], sets };
}

/** Every service of the table, sorted by key (the order conflicts are resolved in). */
export function desiredState(table: ServiceTable, opts: DesiredOptions): DesiredService[] {
  return [...table.services.values()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((svc) => desiredService(svc, table.nodeName, opts));
}
