// Pure: service port → the entries the services/backends/rev_nat/svc_meta maps should hold
// for it. The frontends come from model/frontends.ts (the same for every backend).
//
// - Backends are stored once per service port (sp_id), shared by all its frontends; every
//   endpoint the slices list gets one (established flows survive readiness changes and
//   termination), flagged active for the ClusterIP and/or external frontends that select it.
// - One frontend (svc_id) per VIP:port:proto, with slot 0 (count, flags, sp_id) and one slot
//   per selected backend. Slots are stable: given the previous slot order, a backend that
//   leaves is replaced by the last one and a new one is appended, so one endpoint change
//   rewrites its slot(s) and the count, not the whole list.
// - Ids come from an allocator that never hands out an id twice.
// - LoadBalancer frontends of a Service with loadBalancerSourceRanges carry SVC_F_SRC_RANGE
//   and their CIDRs in lb_src_range (source-ranges.ts).
// - Localhost NodePorts (kube-proxy's iptables default): 127.0.0.1:nodePort frontends with
//   SVC_F_LOCALHOST, for the socket LB only.
// - Maglev (--lb-algorithm or the Service's annotation): SVC_F_MAGLEV and, with endpoints, a
//   table over the frontend's slot backends (maglev.ts). Named by ip:port, so every node
//   builds the same table whatever ids it gave them; frontends with the same backends share
//   one table.
// - IPv6 frontends and endpoints take the same entries (abi.h's v6 twins; family-maps.ts puts
//   each in its family's map). A frontend's slots hold the endpoints of its own family only.
import { isIP, isIPv4 } from 'node:net';
import { type Frontend, type FrontendKind, type NodeView, frontendsOf, nodePortAddressesCoverLoopback, nodeViewOf } from '../../model/frontends.js';
import { hasExternal, selectEndpoints } from '../../model/select-endpoints.js';
import { servicePortNameString } from '../../model/service-port-name.js';
import type { LbAlgorithm } from '../../model/lb-algorithm.js';
import type { Endpoint, ServicePortEntry, ServiceTable } from '../../model/types.js';
import * as abi from './abi.js';
import { canonicalIp6 } from './abi.js';
import { DEFAULT_MAGLEV_SEED, maglevTable } from './maglev.js';
import { type IdState, type MapState, type MaglevEntry, backendIdentity, emptyIds, emptyState, frontendId, maglevEntry, srcRangeId } from './state.js';
import { ipv4SourceRanges, srcRangeKeys } from './source-ranges.js';

export type { FrontendKind };

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

/** What one service port puts in the maps. */
export interface PortRender {
  key: string;
  spId: number;
  frontends: FrontendInfo[];
  /** Backend ids in slot order, by frontend id (`vip:port/PROTO`). */
  slots: Map<string, number[]>;
  state: MapState;
  skipped: Skipped[];
}

/**
 * Endpoints listed for a service, deduplicated by ip:port (IPv6 in canonical form, as the maps
 * read it back), sorted: IPv4 by address and port, then IPv6 by address bytes and port. An
 * address that is neither is a located problem in `skipped`.
 */
function listed(endpoints: readonly Endpoint[], skipped: (reason: string) => void): Endpoint[] {
  const seen = new Map<string, { e: Endpoint; n: number; b?: Buffer }>();
  for (const e of endpoints) {
    const fam = isIP(e.ip);
    if (fam === 0) {
      skipped(`endpoint ${JSON.stringify(e.ip)}: not an IP address`);
      continue;
    }
    const ip = fam === 6 ? canonicalIp6(e.ip) : e.ip;
    const k = `${ip}:${e.port}`;
    if (seen.has(k)) continue;
    if (fam === 4) seen.set(k, { e, n: ip4Number(ip) * 65536 + e.port });
    else {
      const b = Buffer.alloc(18);
      abi.ip6ToBytes(ip, b, 0);
      b.writeUInt16BE(e.port, 16);
      seen.set(k, { e: ip === e.ip ? e : { ...e, ip }, n: Infinity, b });
    }
  }
  return [...seen.values()]
    .sort((a, b) => (a.b && b.b ? Buffer.compare(a.b, b.b) : a.n - b.n || (a.b ? 1 : b.b ? -1 : 0)))
    .map((x) => x.e);
}

/** Dotted quad → number, for sorting (the address is known to be IPv4). */
function ip4Number(ip: string): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return n * 256 + octet;
}

/** Allocates an id for `identity`, or returns the one it has (in `m`, else in `prev`). Ids only grow. */
function idFor(m: Map<string, number>, prev: Map<string, number> | undefined, identity: string, next: () => number): number {
  let id = m.get(identity);
  if (id === undefined) m.set(identity, (id = prev?.get(identity) ?? next()));
  return id;
}

/**
 * Slot order for a frontend: the previous order with leavers replaced by the last entry
 * (swap-remove) and newcomers appended in address order.
 */
export function stableSlots(previous: readonly number[] | undefined, active: readonly number[]): number[] {
  const want = new Set(active);
  const out = (previous ?? []).slice();
  for (let i = 0; i < out.length; ) {
    if (want.has(out[i]!)) i++;
    else {
      out[i] = out[out.length - 1]!;
      out.pop();
    }
  }
  const have = new Set(out);
  for (const id of active) if (!have.has(id)) out.push(id);
  return out;
}

/** --lb-algorithm, --maglev-table-size, --maglev-seed. */
export interface LbOptions {
  /** For Services without the annotation. */
  algorithm: LbAlgorithm;
  /** M, prime (maglev.ts checkTableSize). */
  tableSize: number;
  seed: string;
}

export const DEFAULT_LB: LbOptions = { algorithm: 'random', tableSize: abi.MAGLEV_SIZE_DEFAULT, seed: DEFAULT_MAGLEV_SEED };

export interface PortRenderInput {
  view: NodeView;
  ids: IdState;
  /** Ids to keep when `ids` has none for an identity (a whole-table render starts `ids` empty
   * and takes what is still used from here, so what is gone is forgotten). */
  prevIds?: IdState;
  /** Slot order this frontend had (from the last render, or read from the kernel). */
  previousSlots?: (fid: string) => readonly number[] | undefined;
  /** Takes a frontend for this service port; false when another service port holds it. */
  claim?: (fid: string) => boolean;
  /** Serve NodePorts on 127.0.0.1 too (socket LB): --nodeport-addresses covers loopback and
   * --iptables-localhost-nodeports is not false. */
  localhostNodePorts?: boolean;
  /** How new flows pick a backend; default DEFAULT_LB (random). */
  lb?: LbOptions;
}

export const LOCALHOST = '127.0.0.1';

/** Whether these flags serve 127.0.0.1 NodePorts: one rule for a sync and `bpfproxy render`. */
export function servesLocalhostNodePorts(o: { localhostNodePorts?: boolean; nodePortAddresses?: readonly string[] }): boolean {
  return o.localhostNodePorts !== false && nodePortAddressesCoverLoopback(o.nodePortAddresses ?? []);
}

/**
 * The 127.0.0.1:nodePort frontend. kube-proxy sends traffic from the node itself (source
 * type LOCAL) to a NodePort through the Cluster-policy endpoints even under
 * externalTrafficPolicy Local (it is node traffic, not external: nothing to preserve), so
 * its endpoints are the cluster ones whatever the policies say.
 */
function localhostFrontend(svc: ServicePortEntry, cluster: Endpoint[]): Frontend & { localhost: true } {
  return { kind: 'NodePort', address: LOCALHOST, port: svc.nodePort, family: 4, external: false, endpoints: cluster, dropEmpty: false, localhost: true };
}

export function renderPort(svc: ServicePortEntry, input: PortRenderInput): PortRender {
  const { view, ids, prevIds: prev } = input;
  const name = servicePortNameString(svc.name);
  const state = emptyState();
  const skipped: Skipped[] = [];
  const frontends: FrontendInfo[] = [];
  const slotsOut = new Map<string, number[]>();
  const proto = abi.protoNumber(svc.protocol);
  const spId = idFor(ids.sp, prev?.sp, svc.key, () => ids.nextSp++);
  const out = { key: svc.key, spId, frontends, slots: slotsOut, state, skipped };
  if (proto === undefined) {
    skipped.push({ service: name, reason: `protocol ${svc.protocol} is not supported by the eBPF data plane` });
    return out;
  }

  const sel = selectEndpoints(svc, view.nodeName, view.zone);
  // Selected endpoints by canonical ip:port (listed() canonicalises IPv6 the same way).
  const epKey = (e: Endpoint) => `${isIPv4(e.ip) || isIP(e.ip) === 0 ? e.ip : canonicalIp6(e.ip)}:${e.port}`;
  const activeInt = new Set(sel.internal.map(epKey));
  const activeExt = new Set(hasExternal(svc) ? sel.external.map(epKey) : []);
  const backendOf = new Map<string, number>();
  const all = listed(svc.endpoints, (reason) => skipped.push({ service: name, reason }));
  for (const e of all) {
    const id = idFor(ids.backend, prev?.backend, backendIdentity(spId, e.ip, e.port), () => ids.nextBackend++);
    const k = `${e.ip}:${e.port}`;
    backendOf.set(k, id);
    const flags =
      (activeInt.has(k) ? abi.BE_F_ACTIVE : 0) |
      (activeExt.has(k) ? abi.BE_F_ACTIVE_EXT : 0) |
      (e.terminating ? abi.BE_F_TERMINATING : 0) |
      (e.nodeName !== undefined && e.nodeName !== view.nodeName ? abi.BE_F_REMOTE : 0);
    state.backends.set(id, { ip: e.ip, port: e.port, proto, flags, spId });
  }

  if (svc.nodePort > 0 && view.nodePortAddresses.length === 0)
    skipped.push({ service: name, reason: `NodePort ${svc.nodePort}: no address known for node ${view.nodeName}` });
  // Slot candidates in address order (what a first sync writes), per family: the internal
  // frontends' and the external ones' (an external frontend exists only when hasExternal(svc)).
  const slotCandidates = (active: Set<string>, v4: boolean) =>
    all.filter((e) => isIPv4(e.ip) === v4 && active.has(`${e.ip}:${e.port}`)).map((e) => backendOf.get(`${e.ip}:${e.port}`)!);
  const clusterKeys = new Set(sel.cluster.map(epKey));
  const candidatesOf = (v4: boolean) => ({
    internal: slotCandidates(activeInt, v4),
    external: slotCandidates(activeExt, v4),
    cluster: slotCandidates(clusterKeys, v4),
  });
  const byFamily = { 4: candidatesOf(true), 6: candidatesOf(false) };
  const fronts: Array<Frontend & { localhost?: true }> = frontendsOf(svc, view, sel);
  if (input.localhostNodePorts && svc.nodePort > 0) fronts.push(localhostFrontend(svc, sel.cluster));
  // Only when an IPv4 LB IP is served: the ranges restrict nothing else.
  const ranges = svc.loadBalancerIPs.some((ip) => isIPv4(ip)) ? ipv4SourceRanges(svc, view.primaryIPs[4]) : undefined;
  const v4Ranges = (f: Frontend) => f.family === 4 && f.kind === 'LoadBalancer' && ranges !== undefined;
  for (const reason of ranges?.skipped ?? []) skipped.push({ service: name, reason });
  const lb = input.lb ?? DEFAULT_LB;
  const maglev = (svc.lbAlgorithm ?? lb.algorithm) === 'maglev';
  const tables = new Map<string, MaglevEntry>();
  /** The table over these backends (one per distinct set in this service port). */
  const tableOf = (slots: readonly number[]): MaglevEntry => {
    const ids = [...slots].sort((a, b) => a - b);
    const key = ids.join(',');
    let t = tables.get(key);
    if (!t) {
      const byName = new Map<string, number>(ids.map((id) => {
        const b = state.backends.get(id)!;
        return [`${b.ip}:${b.port}`, id];
      }));
      const { order, entry } = maglevTable([...byName.keys()], lb.tableSize, lb.seed);
      const idOf = order.map((n) => byName.get(n)!);
      tables.set(key, (t = maglevEntry(Uint32Array.from(entry, (i) => idOf[i]!))));
    }
    return t;
  };
  for (const front of fronts) {
    let f = front;
    if (f.family === 6) {
      // loadBalancerSourceRanges are enforced for IPv4 only (lb_src_range has IPv4 keys):
      // an IPv6 LB IP of such a Service stays unserved rather than open to everyone.
      if (f.kind === 'LoadBalancer' && svc.loadBalancerSourceRanges.length > 0) {
        skipped.push({ service: name, reason: `LoadBalancer ${f.address}: loadBalancerSourceRanges are not enforced for IPv6 by the eBPF data plane: not served` });
        continue;
      }
      try {
        f = { ...f, address: canonicalIp6(f.address) };
      } catch (e) {
        skipped.push({ service: name, reason: `${f.kind} ${JSON.stringify(f.address)}: ${(e as Error).message}` });
        continue;
      }
    }
    const candidates = byFamily[f.family];
    const fid = frontendId(f.address, f.port, proto);
    if (slotsOut.has(fid) || (input.claim && !input.claim(fid))) {
      skipped.push({ service: name, reason: `${f.kind} ${fid} is already used by another service port` });
      continue;
    }
    const svcId = idFor(ids.svc, prev?.svc, fid, () => ids.nextSvc++);
    // stableSlots keeps an existing order.
    const slots = stableSlots(input.previousSlots?.(fid), f.localhost ? candidates.cluster : f.external ? candidates.external : candidates.internal);
    slotsOut.set(fid, slots);
    const info: FrontendInfo = { svcId, service: name, entryKey: svc.key, kind: f.kind, vip: f.address, port: f.port, proto };
    frontends.push(info);
    const affinity = svc.sessionAffinity.type === 'ClientIP';
    // Drop rather than reject: a policy left none here while the service has endpoints of
    // this family (frontendsOf's dropEmpty, per family: kube-proxy runs one proxier per family).
    const dropEmpty = slots.length === 0 && candidates.cluster.length > 0;
    // Not for 127.0.0.1 frontends: the socket LB has no 5-tuple at connect() to hash.
    let useMaglev = maglev && !f.localhost;
    if (useMaglev && slots.length > lb.tableSize) {
      skipped.push({ service: name, reason: `${f.kind} ${fid}: ${slots.length} endpoints do not fit a maglev table of ${lb.tableSize}: balanced at random` });
      useMaglev = false;
    }
    if (useMaglev && slots.length > 0) state.maglev.set(svcId, tableOf(slots));
    const flags =
      (affinity ? abi.SVC_F_AFFINITY : 0) |
      (f.external ? abi.SVC_F_EXTERNAL : 0) |
      (f.external && svc.externalTrafficPolicy === 'Cluster' ? abi.SVC_F_SNAT_ALL : 0) |
      (f.kind === 'NodePort' ? abi.SVC_F_NODEPORT : 0) |
      (dropEmpty ? abi.SVC_F_DROP_EMPTY : 0) |
      (f.localhost ? abi.SVC_F_LOCALHOST : 0) |
      (v4Ranges(f) ? abi.SVC_F_SRC_RANGE : 0) |
      (useMaglev ? abi.SVC_F_MAGLEV : 0);
    // Ranges only restrict LoadBalancer IPs (kube-proxy): NodePorts and ClusterIPs stay open.
    if (v4Ranges(f)) for (const k of srcRangeKeys(svcId, ranges!.cidrs)) state.srcRanges.set(srcRangeId(k), k);
    // Map keys are svcKeyId(key): `${fid}#${slot}`, built from fid once per frontend.
    const key0 = { vip: f.address, port: f.port, proto, slot: 0 };
    state.services.set(`${fid}#0`, {
      key: key0,
      value: {
        backendId: spId, svcId, count: slots.length, flags,
        affinityTimeout: svc.sessionAffinity.type === 'ClientIP' ? svc.sessionAffinity.timeoutSeconds : 0,
      },
    });
    slots.forEach((bid, i) => {
      const key = { vip: f.address, port: f.port, proto, slot: i + 1 };
      state.services.set(`${fid}#${i + 1}`, { key, value: { backendId: bid, svcId, count: 0, flags: 0, affinityTimeout: 0 } });
    });
    state.revNat.set(svcId, { vip: f.address, port: f.port });
    state.meta.set(svcId, { name, kind: KIND_CODE[f.kind] });
  }
  return out;
}

/** Adds `part`'s entries to `into` (service ports never share entries). */
export function mergeState(into: MapState, part: MapState): MapState {
  for (const [k, v] of part.services) into.services.set(k, v);
  for (const [k, v] of part.backends) into.backends.set(k, v);
  for (const [k, v] of part.revNat) into.revNat.set(k, v);
  for (const [k, v] of part.meta) into.meta.set(k, v);
  for (const [k, v] of part.srcRanges) into.srcRanges.set(k, v);
  for (const [k, v] of part.maglev) into.maglev.set(k, v);
  return into;
}

export interface Rendered {
  desired: MapState;
  ids: IdState;
  parts: Map<string, PortRender>;
  frontends: Map<number, FrontendInfo>;
  skipped: Skipped[];
}

/**
 * The whole table, service ports in key order (the first to claim a frontend keeps it).
 * With no previous ids and slots this is exactly what a first sync writes (`bpfproxy render`).
 */
export function render(
  table: ServiceTable, prevIds: IdState = emptyIds(),
  opts: { view?: NodeView; previousSlots?: (fid: string) => readonly number[] | undefined; localhostNodePorts?: boolean; lb?: LbOptions } = {},
): Rendered {
  const ids: IdState = {
    svc: new Map(), backend: new Map(), sp: new Map(),
    nextSvc: prevIds.nextSvc, nextBackend: prevIds.nextBackend, nextSp: prevIds.nextSp,
  };
  const view = opts.view ?? nodeViewOf(table);
  const desired = emptyState();
  const parts = new Map<string, PortRender>();
  const frontends = new Map<number, FrontendInfo>();
  const skipped: Skipped[] = [];
  const owner = new Set<string>();
  const claim = (fid: string) => !owner.has(fid) && (owner.add(fid), true);
  const keys = [...table.services.keys()].sort();
  for (const key of keys) {
    const p = renderPort(table.services.get(key)!, { view, ids, prevIds, claim, previousSlots: opts.previousSlots, localhostNodePorts: opts.localhostNodePorts, lb: opts.lb });
    parts.set(key, p);
    mergeState(desired, p.state);
    for (const f of p.frontends) frontends.set(f.svcId, f);
    skipped.push(...p.skipped);
  }
  return { desired, ids, parts, frontends, skipped };
}

/** After a service port went from `before` to `after`: forget the identities it dropped. */
export function releaseIds(ids: IdState, before: PortRender | undefined, after: PortRender | undefined): void {
  if (!before) return;
  if (!after) ids.sp.delete(before.key);
  for (const fid of before.slots.keys()) if (!after?.slots.has(fid)) ids.svc.delete(fid);
  for (const [id, b] of before.state.backends) if (!after?.state.backends.has(id)) ids.backend.delete(backendIdentity(before.spId, b.ip, b.port));
}
