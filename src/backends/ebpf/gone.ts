// Pure: which sockets a sync orphaned. A backend the sync deleted leaves every socket the
// socket LB connected to it talking to a pod that is gone; the pairs returned here name them
// as the socket LB recorded them (sock_rev: backend address:port and the frontend's svc_id).
import type { MapState } from './state.js';

/** A removed backend and one frontend of its service port (spId): sockets to it through that frontend are closed. */
export interface GoneTarget { addr: string; port: number; proto: number; svcId: number; spId: number }

/**
 * `deleted`: backend ids whose delete the sync applied; `current`: the entries as the kernel
 * held them before (it has those backends and their frontends' slot 0); `wanted`: what the
 * maps hold now. A backend whose address:port its service port still lists under another id
 * (an endpoint deleted and re-created within one sync) is not gone.
 */
export function goneTargets(current: MapState, wanted: Iterable<MapState>, deleted: Iterable<number>): GoneTarget[] {
  const gone = new Map<number, Array<{ addr: string; port: number; proto: number }>>();
  for (const id of deleted) {
    const b = current.backends.get(id);
    if (!b) continue;
    let list = gone.get(b.spId);
    if (!list) gone.set(b.spId, (list = []));
    list.push({ addr: b.ip, port: b.port, proto: b.proto });
  }
  if (gone.size === 0) return [];
  const key = (sp: number, a: string, p: number, proto: number) => `${sp}|${a}:${p}/${proto}`;
  const kept = new Set<string>();
  for (const part of wanted)
    for (const b of part.backends.values()) if (gone.has(b.spId)) kept.add(key(b.spId, b.ip, b.port, b.proto));
  // Slot 0 names its service port in backend_id: every frontend (ClusterIP, NodePort, …) of it.
  const frontends = new Map<number, number[]>();
  for (const { key: k, value } of current.services.values()) {
    if (k.slot !== 0 || !gone.has(value.backendId)) continue;
    let l = frontends.get(value.backendId);
    if (!l) frontends.set(value.backendId, (l = []));
    l.push(value.svcId);
  }
  const out: GoneTarget[] = [];
  for (const [sp, list] of gone)
    for (const b of list) {
      if (kept.has(key(sp, b.addr, b.port, b.proto))) continue;
      for (const svcId of frontends.get(sp) ?? []) out.push({ ...b, svcId, spId: sp });
    }
  return out;
}
