// Pure: current map contents vs desired → operations in an order that keeps every lookup
// the data path can make valid at every instant:
//   1 backends (new/changed)  2 rev_nat + svc_meta  3 slots ≥ 1  4 slot 0 (count last: new slots are
//   written before they are counted)
//   5 slot 0 of removed frontends  6 stale slots ≥ 1 (count already shrunk)
//   7 backends nobody lists  8 rev_nat + svc_meta of removed frontends
// Every op names the service port (sp_id, its `unit`) it belongs to, so a failure can be
// confined to it: a service port is written whole or keeps its previous entries.
import type { BackendValue, RevNatValue, SvcKey, SvcMeta, SvcValue } from './abi.js';
import type { MapState } from './state.js';

export type Op =
  | { phase: number; unit: number; map: 'backends'; kind: 'upsert'; id: number; value: BackendValue }
  | { phase: number; unit: number; map: 'backends'; kind: 'delete'; id: number }
  | { phase: number; unit: number; map: 'rev_nat'; kind: 'upsert'; id: number; value: RevNatValue }
  | { phase: number; unit: number; map: 'rev_nat'; kind: 'delete'; id: number }
  | { phase: number; unit: number; map: 'svc_meta'; kind: 'upsert'; id: number; value: SvcMeta }
  | { phase: number; unit: number; map: 'svc_meta'; kind: 'delete'; id: number }
  | { phase: number; unit: number; map: 'services'; kind: 'upsert'; keyId: string; key: SvcKey; value: SvcValue }
  | { phase: number; unit: number; map: 'services'; kind: 'delete'; keyId: string; key: SvcKey };

export const PHASES = [
  'upsert backends', 'upsert rev_nat', 'upsert slots', 'upsert slot 0',
  'delete slot 0', 'delete slots', 'delete backends', 'delete rev_nat',
  // svc_meta is never read by the data path: after everything else, in its own phases.
  'upsert svc_meta', 'delete svc_meta',
] as const;

function same<T extends object>(a: T, b: T): boolean {
  for (const k in a) if (a[k] !== b[k]) return false;
  return true;
}

export function diff(current: MapState, desired: MapState): Op[] {
  // svc_id → sp_id from slot 0 (its backend_id); entries of an older layout have 0 there.
  const spOf = new Map<number, number>();
  for (const st of [current, desired])
    for (const { key, value } of st.services.values()) if (key.slot === 0) spOf.set(value.svcId, value.backendId);
  const unit = (svcId: number) => spOf.get(svcId) ?? 0;
  const ops: Op[] = [];
  for (const [id, value] of desired.backends) {
    const cur = current.backends.get(id);
    if (!cur || !same(cur, value)) ops.push({ phase: 0, unit: value.spId, map: 'backends', kind: 'upsert', id, value });
  }
  for (const [id, value] of desired.revNat) {
    const cur = current.revNat.get(id);
    if (!cur || !same(cur, value)) ops.push({ phase: 1, unit: unit(id), map: 'rev_nat', kind: 'upsert', id, value });
  }
  for (const [id, value] of desired.meta) {
    const cur = current.meta.get(id);
    if (!cur || !same(cur, value)) ops.push({ phase: 8, unit: unit(id), map: 'svc_meta', kind: 'upsert', id, value });
  }
  for (const [keyId, { key, value }] of desired.services) {
    const cur = current.services.get(keyId);
    if (!cur || !same(cur.value, value))
      ops.push({ phase: key.slot === 0 ? 3 : 2, unit: unit(value.svcId), map: 'services', kind: 'upsert', keyId, key, value });
  }
  for (const [keyId, { key, value }] of current.services) {
    if (!desired.services.has(keyId))
      ops.push({ phase: key.slot === 0 ? 4 : 5, unit: unit(value.svcId), map: 'services', kind: 'delete', keyId, key });
  }
  for (const [id, value] of current.backends) {
    if (!desired.backends.has(id)) ops.push({ phase: 6, unit: value.spId, map: 'backends', kind: 'delete', id });
  }
  for (const id of current.revNat.keys()) {
    if (!desired.revNat.has(id)) ops.push({ phase: 7, unit: unit(id), map: 'rev_nat', kind: 'delete', id });
  }
  for (const id of current.meta.keys()) {
    if (!desired.meta.has(id)) ops.push({ phase: 9, unit: unit(id), map: 'svc_meta', kind: 'delete', id });
  }
  // Grouped by phase, insertion order kept within one (slots ascending, etc.).
  const byPhase: Op[][] = PHASES.map(() => []);
  for (const op of ops) byPhase[op.phase]!.push(op);
  return byPhase.flat();
}
