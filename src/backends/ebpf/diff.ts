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

/**
 * The wanted entries as the service ports' own states, without merging them into one
 * (at 100k services that union alone costs more than the writes): `parts` give the
 * entries, `has*` say whether any part holds an entry the kernel has.
 */
export interface Desired {
  parts: Iterable<MapState>;
  hasService(keyId: string): boolean;
  hasBackend(id: number, spId: number): boolean;
  hasFrontend(svcId: number): boolean;
}

/** One state as a Desired (tests, small diffs). */
export function desiredOf(s: MapState): Desired {
  return {
    parts: [s],
    hasService: (k) => s.services.has(k),
    hasBackend: (id) => s.backends.has(id),
    hasFrontend: (id) => s.revNat.has(id) || s.meta.has(id),
  };
}

export function diff(current: MapState, want: MapState | Desired): Op[] {
  const desired = 'parts' in want ? want : desiredOf(want);
  // svc_id → sp_id from slot 0 (its backend_id); entries of an older layout have 0 there.
  const spOf = new Map<number, number>();
  const slot0 = (st: MapState) => {
    for (const { key, value } of st.services.values()) if (key.slot === 0) spOf.set(value.svcId, value.backendId);
  };
  slot0(current);
  for (const part of desired.parts) slot0(part);
  const unit = (svcId: number) => spOf.get(svcId) ?? 0;
  const byPhase: Op[][] = PHASES.map(() => []);
  for (const part of desired.parts) {
    for (const [id, value] of part.backends) {
      const cur = current.backends.get(id);
      if (!cur || !same(cur, value)) byPhase[0]!.push({ phase: 0, unit: value.spId, map: 'backends', kind: 'upsert', id, value });
    }
    for (const [id, value] of part.revNat) {
      const cur = current.revNat.get(id);
      if (!cur || !same(cur, value)) byPhase[1]!.push({ phase: 1, unit: unit(id), map: 'rev_nat', kind: 'upsert', id, value });
    }
    for (const [id, value] of part.meta) {
      const cur = current.meta.get(id);
      if (!cur || !same(cur, value)) byPhase[8]!.push({ phase: 8, unit: unit(id), map: 'svc_meta', kind: 'upsert', id, value });
    }
    for (const [keyId, { key, value }] of part.services) {
      const cur = current.services.get(keyId);
      const phase = key.slot === 0 ? 3 : 2;
      if (!cur || !same(cur.value, value)) byPhase[phase]!.push({ phase, unit: unit(value.svcId), map: 'services', kind: 'upsert', keyId, key, value });
    }
  }
  for (const [keyId, { key, value }] of current.services) {
    const phase = key.slot === 0 ? 4 : 5;
    if (!desired.hasService(keyId)) byPhase[phase]!.push({ phase, unit: unit(value.svcId), map: 'services', kind: 'delete', keyId, key });
  }
  for (const [id, value] of current.backends) {
    if (!desired.hasBackend(id, value.spId)) byPhase[6]!.push({ phase: 6, unit: value.spId, map: 'backends', kind: 'delete', id });
  }
  for (const id of current.revNat.keys()) {
    if (!desired.hasFrontend(id)) byPhase[7]!.push({ phase: 7, unit: unit(id), map: 'rev_nat', kind: 'delete', id });
  }
  for (const id of current.meta.keys()) {
    if (!desired.hasFrontend(id)) byPhase[9]!.push({ phase: 9, unit: unit(id), map: 'svc_meta', kind: 'delete', id });
  }
  // Grouped by phase, insertion order kept within one (slots ascending, etc.).
  return byPhase.flat();
}
