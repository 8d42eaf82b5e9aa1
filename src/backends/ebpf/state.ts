// The three LB tables as plain data: what render() wants and what the kernel holds. Both
// sides use the same shape so diff() can compare them entry by entry.
import type { BackendValue, RevNatValue, SvcKey, SvcMeta, SvcValue } from './abi.js';
import { protoName } from './abi.js';

export interface MapState {
  /** services entries by svcKeyId(key). */
  services: Map<string, { key: SvcKey; value: SvcValue }>;
  /** backend_id → backend. */
  backends: Map<number, BackendValue>;
  /** svc_id → frontend. */
  revNat: Map<number, RevNatValue>;
  /** svc_id → service name and kind (control plane only). */
  meta: Map<number, SvcMeta>;
}

export function emptyState(): MapState {
  return { services: new Map(), backends: new Map(), revNat: new Map(), meta: new Map() };
}

export function cloneState(s: MapState): MapState {
  return { services: new Map(s.services), backends: new Map(s.backends), revNat: new Map(s.revNat), meta: new Map(s.meta) };
}

/** `vip:port/PROTO#slot`, stable and readable (used in logs and as the map key). */
export function svcKeyId(k: SvcKey): string {
  return `${frontendId(k.vip, k.port, k.proto)}#${k.slot}`;
}

/** `vip:port/PROTO`: one frontend (what a svc_id names). */
export function frontendId(vip: string, port: number, proto: number): string {
  return `${vip}:${port}/${protoName(proto)}`;
}

/** Identity of a backend within its frontend: ids are allocated per (svc_id, ip, port). */
export function backendIdentity(svcId: number, ip: string, port: number): string {
  return `${svcId}|${ip}:${port}`;
}

/** Stable id allocation, rebuilt from the kernel on adoption. Ids only grow (never reused):
 * a stale conntrack entry can never point at an unrelated backend or frontend. */
export interface IdState {
  svc: Map<string, number>;
  backend: Map<string, number>;
  nextSvc: number;
  nextBackend: number;
}

export function emptyIds(): IdState {
  return { svc: new Map(), backend: new Map(), nextSvc: 1, nextBackend: 1 };
}

/** What a restarted controller can learn about id allocation from the tables themselves. */
export function idsFromState(s: MapState): IdState {
  const ids = emptyIds();
  for (const { key, value } of s.services.values()) {
    if (key.slot !== 0) continue;
    ids.svc.set(frontendId(key.vip, key.port, key.proto), value.svcId);
    ids.nextSvc = Math.max(ids.nextSvc, value.svcId + 1);
  }
  for (const id of s.revNat.keys()) ids.nextSvc = Math.max(ids.nextSvc, id + 1);
  for (const [id, b] of s.backends) {
    ids.backend.set(backendIdentity(b.svcId, b.ip, b.port), id);
    ids.nextBackend = Math.max(ids.nextBackend, id + 1);
  }
  return ids;
}
