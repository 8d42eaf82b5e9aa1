// Pure: ServiceTable → the entries the services/backends/rev_nat maps should hold.
// One frontend (svc_id) per VIP:port:proto — ClusterIPs use the internal endpoints;
// NodePorts (on this node's IPv4 addresses), externalIPs and LoadBalancer IPs the external
// ones, and flows from them to endpoints on other nodes get SNATed by the data path. Every endpoint the slices list gets a
// backend entry (so established flows survive readiness changes and termination); only the
// selected ones get slots (new flows).
import { isIPv4 } from 'node:net';
import type { Endpoint, ServicePortEntry, ServiceTable } from '../../model/types.js';
import { selectEndpoints } from '../../model/select-endpoints.js';
import { servicePortNameString } from '../../model/service-port-name.js';
import * as abi from './abi.js';
import { backendIdentity, emptyState, frontendId, svcKeyId, type IdState, type MapState } from './state.js';

export type FrontendKind = 'ClusterIP' | 'NodePort' | 'ExternalIP' | 'LoadBalancer';

export const KIND_CODE: Record<FrontendKind, number> = {
  ClusterIP: abi.SVC_KIND_CLUSTER_IP,
  ExternalIP: abi.SVC_KIND_EXTERNAL_IP,
  LoadBalancer: abi.SVC_KIND_LOAD_BALANCER,
  NodePort: abi.SVC_KIND_NODE_PORT,
};

export function kindName(code: number): FrontendKind | undefined {
  return (Object.keys(KIND_CODE) as FrontendKind[]).find((k) => KIND_CODE[k] === code);
}

export interface FrontendInfo {
  svcId: number;
  /** ServicePortName string (`ns/name` or `ns/name:port`). */
  service: string;
  /** ServiceTable key of the service port. */
  entryKey: string;
  kind: FrontendKind;
  vip: string;
  port: number;
  proto: number;
}

export interface Skipped {
  service: string;
  reason: string;
}

export interface Rendered {
  desired: MapState;
  ids: IdState;
  frontends: Map<number, FrontendInfo>;
  skipped: Skipped[];
}

/** Endpoints listed for a service, deduplicated by ip:port, IPv4 only, sorted. */
function listed(endpoints: readonly Endpoint[]): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const e of endpoints) if (isIPv4(e.ip) && !seen.has(`${e.ip}:${e.port}`)) seen.set(`${e.ip}:${e.port}`, e);
  return [...seen.values()].sort((a, b) => cmpIp(a.ip, b.ip) || a.port - b.port);
}

function cmpIp(a: string, b: string): number {
  const na = a.split('.').map(Number);
  const nb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (na[i] !== nb[i]) return na[i]! - nb[i]!;
  return 0;
}

export function render(table: ServiceTable, prevIds: IdState): Rendered {
  const desired = emptyState();
  const frontends = new Map<number, FrontendInfo>();
  const skipped: Skipped[] = [];
  const ids: IdState = { svc: new Map(), backend: new Map(), nextSvc: prevIds.nextSvc, nextBackend: prevIds.nextBackend };

  const svcId = (fid: string) => {
    const id = prevIds.svc.get(fid) ?? ids.nextSvc++;
    ids.svc.set(fid, id);
    return id;
  };
  const backendId = (key: string) => {
    const id = prevIds.backend.get(key) ?? ids.nextBackend++;
    ids.backend.set(key, id);
    return id;
  };

  const entries = [...table.services.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const svc of entries) {
    const name = servicePortNameString(svc.name);
    const proto = abi.protoNumber(svc.protocol);
    if (proto === undefined) {
      skipped.push({ service: name, reason: `protocol ${svc.protocol} is not supported by the eBPF data plane` });
      continue;
    }
    const sel = selectEndpoints(svc, table.nodeName);
    const all = listed(svc.endpoints);
    const nodeIPs = (table.nodes.get(table.nodeName)?.addresses ?? []).filter((a) => isIPv4(a));
    const frontendsOf: Array<[FrontendKind, string[], number, Endpoint[]]> = [
      ['ClusterIP', svc.clusterIPs, svc.port, sel.internal],
      ['NodePort', svc.nodePort > 0 ? nodeIPs : [], svc.nodePort, sel.external],
      ['ExternalIP', svc.externalIPs, svc.port, sel.external],
      ['LoadBalancer', svc.loadBalancerIPs, svc.port, sel.external],
    ];
    if (svc.nodePort > 0 && nodeIPs.length === 0)
      skipped.push({ service: name, reason: `NodePort ${svc.nodePort}: no IPv4 address known for node ${table.nodeName}` });
    for (const [kind, vips, port, selected] of frontendsOf) {
      for (const vip of vips) {
        if (!isIPv4(vip)) {
          skipped.push({ service: name, reason: `${kind} ${vip}: IPv6 frontends are not supported by the eBPF data plane yet` });
          continue;
        }
        const fid = frontendId(vip, port, proto);
        if (ids.svc.has(fid)) {
          skipped.push({ service: name, reason: `${kind} ${fid} is already used by another service port` });
          continue;
        }
        const f: FrontendInfo = { svcId: svcId(fid), service: name, entryKey: svc.key, kind, vip, port, proto };
        // A Local policy that leaves no endpoint here drops (kube-proxy), "no endpoints at all" rejects.
        const dropEmpty = selected.length === 0 && sel.hasAny;
        addFrontend(svc, f, all, selected, dropEmpty, table.nodeName, backendId, desired);
        frontends.set(f.svcId, f);
      }
    }
  }
  return { desired, ids, frontends, skipped };
}

function addFrontend(
  svc: ServicePortEntry, f: FrontendInfo, all: Endpoint[], selected: Endpoint[], dropEmpty: boolean, nodeName: string,
  backendId: (key: string) => number, desired: MapState,
): void {
  const active = new Set(selected.map((e) => `${e.ip}:${e.port}`));
  const slots: number[] = [];
  for (const e of all) {
    const bid = backendId(backendIdentity(f.svcId, e.ip, e.port));
    const isActive = active.has(`${e.ip}:${e.port}`);
    const flags =
      (isActive ? abi.BE_F_ACTIVE : 0) |
      (e.terminating ? abi.BE_F_TERMINATING : 0) |
      (e.nodeName !== undefined && e.nodeName !== nodeName ? abi.BE_F_REMOTE : 0);
    desired.backends.set(bid, { ip: e.ip, port: e.port, proto: f.proto, flags, svcId: f.svcId });
    if (isActive) slots.push(bid);
  }
  const affinity = svc.sessionAffinity.type === 'ClientIP';
  const flags =
    (affinity ? abi.SVC_F_AFFINITY : 0) |
    (f.kind === 'ClusterIP' ? 0 : abi.SVC_F_EXTERNAL) |
    (f.kind !== 'ClusterIP' && svc.externalTrafficPolicy === 'Cluster' ? abi.SVC_F_SNAT_ALL : 0) |
    (f.kind === 'NodePort' ? abi.SVC_F_NODEPORT : 0) |
    (dropEmpty ? abi.SVC_F_DROP_EMPTY : 0);
  const key0 = { vip: f.vip, port: f.port, proto: f.proto, slot: 0 };
  desired.services.set(svcKeyId(key0), {
    key: key0,
    value: {
      backendId: 0, svcId: f.svcId, count: slots.length, flags,
      affinityTimeout: svc.sessionAffinity.type === 'ClientIP' ? svc.sessionAffinity.timeoutSeconds : 0,
    },
  });
  slots.forEach((bid, i) => {
    const key = { vip: f.vip, port: f.port, proto: f.proto, slot: i + 1 };
    desired.services.set(svcKeyId(key), { key, value: { backendId: bid, svcId: f.svcId, count: 0, flags: 0, affinityTimeout: 0 } });
  });
  desired.revNat.set(f.svcId, { vip: f.vip, port: f.port });
  desired.meta.set(f.svcId, { name: f.service, kind: KIND_CODE[f.kind] });
}
