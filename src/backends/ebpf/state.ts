// The LB tables as plain data: what render() wants and what the kernel holds. Both
// sides use the same shape so diff() can compare them entry by entry.
import { createHash } from 'node:crypto';
import type { BackendValue, LbSrcKey, RevNatValue, SvcKey, SvcMeta, SvcValue } from './abi.js';
import { LB_SRC_SVC_BITS, SVC_KIND_CLUSTER_IP, protoName } from './abi.js';

export interface MapState {
  /** services entries by svcKeyId(key). */
  services: Map<string, { key: SvcKey; value: SvcValue }>;
  /** backend_id → backend. */
  backends: Map<number, BackendValue>;
  /** svc_id → frontend. */
  revNat: Map<number, RevNatValue>;
  /** svc_id → service name and kind (control plane only). */
  meta: Map<number, SvcMeta>;
  /** lb_src_range entries by srcRangeId(key) (every value is allowed = 1). */
  srcRanges: Map<string, LbSrcKey>;
  /** svc_id → its maglev table (SVC_F_MAGLEV frontends with endpoints). */
  maglev: Map<number, MaglevEntry>;
}

/** A maglev table as the inner map holds it: backend ids, one per slot. */
export interface MaglevEntry {
  /** Backend id of each of the M slots. */
  ids: Uint32Array;
  /** Distinct backends in it. */
  backends: number;
  /** Of `ids`: equal tables compare (and are written once) by it. */
  digest: string;
}

export function maglevEntry(ids: Uint32Array): MaglevEntry {
  const digest = createHash('sha256').update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)).digest('base64url');
  return { ids, backends: new Set(ids).size, digest };
}

export function emptyState(): MapState {
  return { services: new Map(), backends: new Map(), revNat: new Map(), meta: new Map(), srcRanges: new Map(), maglev: new Map() };
}

export function cloneState(s: MapState): MapState {
  return {
    services: new Map(s.services), backends: new Map(s.backends), revNat: new Map(s.revNat), meta: new Map(s.meta), srcRanges: new Map(s.srcRanges),
    maglev: new Map(s.maglev),
  };
}

/** `vip:port/PROTO#slot`, stable and readable (used in logs and as the map key). */
export function svcKeyId(k: SvcKey): string {
  return `${frontendId(k.vip, k.port, k.proto)}#${k.slot}`;
}

/** `vip:port/PROTO`: one frontend (what a svc_id names). */
export function frontendId(vip: string, port: number, proto: number): string {
  return `${vip}:${port}/${protoName(proto)}`;
}

/** `svc_id|a.b.c.d/n`: one source CIDR of one LoadBalancer frontend (lb_src_range key). */
export function srcRangeId(k: LbSrcKey): string {
  return `${k.svcId}|${k.addr}/${k.prefixlen - LB_SRC_SVC_BITS}`;
}

/** Identity of a backend within its service port: ids are allocated per (sp_id, ip, port). */
export function backendIdentity(spId: number, ip: string, port: number): string {
  return `${spId}|${ip}:${port}`;
}

/** Id allocation. Ids only grow (never reused): a stale conntrack or affinity entry can
 * never point at an unrelated backend or frontend. */
export interface IdState {
  /** frontend id (`vip:port/PROTO`) → svc_id */
  svc: Map<string, number>;
  /** backendIdentity → backend_id */
  backend: Map<string, number>;
  /** service-port key → sp_id */
  sp: Map<string, number>;
  nextSvc: number;
  nextBackend: number;
  nextSp: number;
}

export function emptyIds(): IdState {
  return { svc: new Map(), backend: new Map(), sp: new Map(), nextSvc: 1, nextBackend: 1, nextSp: 1 };
}

/**
 * What a restarted controller learns about id allocation from the tables themselves:
 * slot 0 gives frontend → svc_id and sp_id, svc_meta the service port's name (the key is
 * name + protocol), the backends their sp_id.
 */
export function idsFromState(s: MapState): IdState {
  const ids = emptyIds();
  for (const { key, value } of s.services.values()) {
    if (key.slot !== 0) continue;
    ids.svc.set(frontendId(key.vip, key.port, key.proto), value.svcId);
    ids.nextSvc = Math.max(ids.nextSvc, value.svcId + 1);
    const meta = s.meta.get(value.svcId);
    const spKey = meta && `${meta.name}/${protoName(key.proto).toLowerCase()}`;
    if (value.backendId > 0 && spKey) ids.sp.set(spKey, value.backendId);
    // The layout before shared backends (slot 0 backend_id 0, backends owned by one frontend):
    // the ClusterIP frontend's svc_id becomes the service port's sp_id, so its backends keep
    // their ids and the flows to them survive the upgrade.
    else if (value.backendId === 0 && spKey && meta.kind === SVC_KIND_CLUSTER_IP && !ids.sp.has(spKey)) ids.sp.set(spKey, value.svcId);
    ids.nextSp = Math.max(ids.nextSp, value.backendId + 1, value.svcId + 1);
  }
  for (const id of s.revNat.keys()) ids.nextSvc = Math.max(ids.nextSvc, id + 1);
  for (const [id, b] of s.backends) {
    ids.backend.set(backendIdentity(b.spId, b.ip, b.port), id);
    ids.nextBackend = Math.max(ids.nextBackend, id + 1);
    ids.nextSp = Math.max(ids.nextSp, b.spId + 1);
  }
  return ids;
}

/** Slot order of every frontend as the kernel holds it (a restart keeps it). */
export function slotsFromState(s: MapState): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const { key, value } of s.services.values()) {
    if (key.slot !== 0) continue;
    const slots: number[] = [];
    for (let i = 1; i <= value.count; i++) {
      const e = s.services.get(svcKeyId({ ...key, slot: i }));
      if (e) slots.push(e.value.backendId);
    }
    out.set(frontendId(key.vip, key.port, key.proto), slots);
  }
  return out;
}
