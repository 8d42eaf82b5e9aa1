// Pure: current map contents vs desired → operations in an order that keeps every lookup
// the data path can make valid at every instant:
//   1 backends (new/changed)  2 rev_nat + svc_meta  3 new source ranges  4 slots ≥ 1
//   5 maglev tables (new/changed: after the backends they name, before SVC_F_MAGLEV needs them)
//   6 slot 0 (count last: new slots are written before they are counted; SVC_F_SRC_RANGE
//   after the ranges it needs, so a frontend never starts checking against a half-filled trie)
//   7 slot 0 of removed frontends  8 stale slots ≥ 1 (count already shrunk)
//   9 maglev tables nobody uses (after slot 0 dropped the flag or the frontend; the tables
//   that replace them went in at 5, before the backends they no longer name leave)
//   10 backends nobody lists  11 rev_nat + svc_meta of removed frontends  12 stale source ranges
//   (after slot 0 dropped the flag or the frontend)
// Every op names the service port (sp_id, its `unit`) it belongs to, so a failure can be
// confined to it: a service port is written whole or keeps its previous entries.
import type { BackendValue, LbSrcKey, RevNatValue, SvcKey, SvcMeta, SvcValue } from './abi.js';
import type { MaglevEntry, MapState } from './state.js';

export type Op =
  | { phase: number; unit: number; map: 'backends'; kind: 'upsert'; id: number; value: BackendValue }
  | { phase: number; unit: number; map: 'backends'; kind: 'delete'; id: number }
  | { phase: number; unit: number; map: 'rev_nat'; kind: 'upsert'; id: number; value: RevNatValue }
  | { phase: number; unit: number; map: 'rev_nat'; kind: 'delete'; id: number }
  | { phase: number; unit: number; map: 'svc_meta'; kind: 'upsert'; id: number; value: SvcMeta }
  | { phase: number; unit: number; map: 'svc_meta'; kind: 'delete'; id: number }
  | { phase: number; unit: number; map: 'services'; kind: 'upsert'; keyId: string; key: SvcKey; value: SvcValue }
  | { phase: number; unit: number; map: 'services'; kind: 'delete'; keyId: string; key: SvcKey }
  | { phase: number; unit: number; map: 'lb_src_range'; kind: 'upsert' | 'delete'; keyId: string; key: LbSrcKey }
  | { phase: number; unit: number; map: 'maglev'; kind: 'upsert'; svcId: number; entry: MaglevEntry }
  | { phase: number; unit: number; map: 'maglev'; kind: 'delete'; svcId: number };

export const PHASES = [
  'upsert backends', 'upsert rev_nat', 'upsert lb_src_range', 'upsert slots', 'upsert maglev', 'upsert slot 0',
  'delete slot 0', 'delete slots', 'delete maglev', 'delete backends', 'delete rev_nat', 'delete lb_src_range',
  // svc_meta is never read by the data path: after everything else, in its own phases.
  'upsert svc_meta', 'delete svc_meta',
] as const;
const P = Object.fromEntries(PHASES.map((n, i) => [n, i])) as Record<(typeof PHASES)[number], number>;

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
  /** A source range entry (by srcRangeId) some part wants. */
  hasSrcRange(keyId: string, svcId: number): boolean;
  /** A maglev table for this frontend. */
  hasMaglev(svcId: number): boolean;
}

/** One state as a Desired (tests, small diffs). */
export function desiredOf(s: MapState): Desired {
  return {
    parts: [s],
    hasService: (k) => s.services.has(k),
    hasBackend: (id) => s.backends.has(id),
    hasFrontend: (id) => s.revNat.has(id) || s.meta.has(id),
    hasSrcRange: (k) => s.srcRanges.has(k),
    hasMaglev: (id) => s.maglev.has(id),
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
  const push = (op: Op) => byPhase[op.phase]!.push(op);
  for (const part of desired.parts) {
    for (const [id, value] of part.backends) {
      const cur = current.backends.get(id);
      if (!cur || !same(cur, value)) push({ phase: P['upsert backends'], unit: value.spId, map: 'backends', kind: 'upsert', id, value });
    }
    for (const [id, value] of part.revNat) {
      const cur = current.revNat.get(id);
      if (!cur || !same(cur, value)) push({ phase: P['upsert rev_nat'], unit: unit(id), map: 'rev_nat', kind: 'upsert', id, value });
    }
    for (const [id, value] of part.meta) {
      const cur = current.meta.get(id);
      if (!cur || !same(cur, value)) push({ phase: P['upsert svc_meta'], unit: unit(id), map: 'svc_meta', kind: 'upsert', id, value });
    }
    // A source range entry is its key (the value is always "allowed"): new ones only.
    for (const [keyId, key] of part.srcRanges)
      if (!current.srcRanges.has(keyId)) push({ phase: P['upsert lb_src_range'], unit: unit(key.svcId), map: 'lb_src_range', kind: 'upsert', keyId, key });
    for (const [svcId, entry] of part.maglev)
      if (current.maglev.get(svcId)?.digest !== entry.digest) push({ phase: P['upsert maglev'], unit: unit(svcId), map: 'maglev', kind: 'upsert', svcId, entry });
    for (const [keyId, { key, value }] of part.services) {
      const cur = current.services.get(keyId);
      const phase = key.slot === 0 ? P['upsert slot 0'] : P['upsert slots'];
      if (!cur || !same(cur.value, value)) push({ phase, unit: unit(value.svcId), map: 'services', kind: 'upsert', keyId, key, value });
    }
  }
  for (const [keyId, { key, value }] of current.services) {
    const phase = key.slot === 0 ? P['delete slot 0'] : P['delete slots'];
    if (!desired.hasService(keyId)) push({ phase, unit: unit(value.svcId), map: 'services', kind: 'delete', keyId, key });
  }
  for (const svcId of current.maglev.keys()) {
    if (!desired.hasMaglev(svcId)) push({ phase: P['delete maglev'], unit: unit(svcId), map: 'maglev', kind: 'delete', svcId });
  }
  for (const [id, value] of current.backends) {
    if (!desired.hasBackend(id, value.spId)) push({ phase: P['delete backends'], unit: value.spId, map: 'backends', kind: 'delete', id });
  }
  for (const id of current.revNat.keys()) {
    if (!desired.hasFrontend(id)) push({ phase: P['delete rev_nat'], unit: unit(id), map: 'rev_nat', kind: 'delete', id });
  }
  for (const [keyId, key] of current.srcRanges) {
    if (!desired.hasSrcRange(keyId, key.svcId)) push({ phase: P['delete lb_src_range'], unit: unit(key.svcId), map: 'lb_src_range', kind: 'delete', keyId, key });
  }
  for (const id of current.meta.keys()) {
    if (!desired.hasFrontend(id)) push({ phase: P['delete svc_meta'], unit: unit(id), map: 'svc_meta', kind: 'delete', id });
  }
  // Grouped by phase, insertion order kept within one (slots ascending, etc.).
  return byPhase.flat();
}
