// Executes diff() operations against the maps, phase by phase, batched where possible.
// A failing operation (map full, …) fails only its service port (the op's unit): its later
// ops are skipped and the ops it already applied in this run are undone, so it keeps its
// previous state while every other service port is still programmed. `state` mirrors the
// kernel for the entries the ops touch (it may hold only those). Maglev tables are written
// one at a time through their own writer (maglev-maps.ts: a whole table, then the swap).
import type { BackendValue, LbSrcKey, LbSrcValue, RevNatValue, SvcKey, SvcMeta, SvcValue, U32Key } from './abi.js';
import type { BatchResult } from './libbpf.js';
import type { Op } from './diff.js';
import { PHASES } from './diff.js';
import { srcRangeId, svcKeyId, type MaglevEntry, type MapState } from './state.js';

export interface MapLike<K, V> {
  update(k: K, v: V): void;
  delete(k: K): boolean;
  updateBatch(entries: ReadonlyArray<readonly [K, V]>): Promise<BatchResult>;
  deleteBatch(keys: readonly K[]): Promise<BatchResult>;
}

export interface ApplyMaps {
  services: MapLike<SvcKey, SvcValue>;
  backends: MapLike<U32Key, BackendValue>;
  revNat: MapLike<U32Key, RevNatValue>;
  meta: MapLike<U32Key, SvcMeta>;
  srcRange: MapLike<LbSrcKey, LbSrcValue>;
  maglev: MaglevWriter;
}

/** Puts a frontend's maglev table in place (whole, then swapped in) or removes it. */
export interface MaglevWriter {
  set(svcId: number, entry: MaglevEntry): Promise<void>;
  delete(svcId: number): boolean;
}

/** Every lb_src_range entry holds this value: the key alone says "allowed". */
const ALLOWED: LbSrcValue = { allowed: 1 };

type IdOp = Extract<Op, { map: 'backends' | 'rev_nat' | 'svc_meta' }>;
type SrcOp = Extract<Op, { map: 'lb_src_range' }>;
type MaglevOp = Extract<Op, { map: 'maglev' }>;
type IdValue = BackendValue | RevNatValue | SvcMeta;

/** The kernel map an id-keyed op writes. */
function idMap(maps: ApplyMaps, op: IdOp): MapLike<U32Key, IdValue> {
  const m = op.map === 'backends' ? maps.backends : op.map === 'rev_nat' ? maps.revNat : maps.meta;
  return m as MapLike<U32Key, IdValue>;
}

/** The mirror of that map. */
function idMirror(state: MapState, op: IdOp): Map<number, IdValue> {
  const s = op.map === 'backends' ? state.backends : op.map === 'rev_nat' ? state.revNat : state.meta;
  return s as Map<number, IdValue>;
}

export interface ApplyFailure {
  /** sp_id of the service port that failed. */
  unit: number;
  /** e.g. `upsert slots services 198.19.1.175:80/TCP#2`. */
  op: string;
  error: unknown;
}

export interface ApplyResult {
  applied: number;
  failures: Map<number, ApplyFailure>;
  /** Batches that fell back to one syscall per entry. */
  fallbacks: number;
}

/** What an op replaced (undefined: the entry was absent): enough to put it back. */
interface Undo {
  op: Op;
  prev: { key: SvcKey; value: SvcValue } | IdValue | LbSrcKey | MaglevEntry | undefined;
}

function describeOp(op: Op): string {
  const what = op.map === 'services' ? svcKeyId(op.key) : op.map === 'lb_src_range' ? srcRangeId(op.key) : op.map === 'maglev' ? `svc_id ${op.svcId}` : `id ${op.id}`;
  return `${PHASES[op.phase]} ${op.map} ${what}`;
}

/** Runs one op against the kernel and the mirror; returns how to restore both. */
async function execOne(maps: ApplyMaps, state: MapState, op: Op): Promise<Undo> {
  const u = undoFor(state, op);
  if (op.map === 'maglev') {
    if (op.kind === 'upsert') await maps.maglev.set(op.svcId, op.entry);
    else maps.maglev.delete(op.svcId);
  } else if (op.map === 'services') {
    if (op.kind === 'upsert') maps.services.update(op.key, op.value);
    else maps.services.delete(op.key);
  } else if (op.map === 'lb_src_range') {
    if (op.kind === 'upsert') maps.srcRange.update(op.key, ALLOWED);
    else maps.srcRange.delete(op.key);
  } else {
    const m = idMap(maps, op);
    if (op.kind === 'upsert') m.update({ id: op.id }, op.value);
    else m.delete({ id: op.id });
  }
  mirror(state, op);
  return u;
}

/** Batch the ops of one phase (they all hit one map with one kind); throws on failure. */
async function execBatch(maps: ApplyMaps, ops: Exclude<Op, MaglevOp>[]): Promise<BatchResult> {
  const first = ops[0]!;
  if (first.map === 'services') {
    const o = ops as Extract<Op, { map: 'services' }>[];
    return first.kind === 'upsert'
      ? maps.services.updateBatch(o.map((x) => [x.key, (x as Extract<Op, { map: 'services'; kind: 'upsert' }>).value] as const))
      : maps.services.deleteBatch(o.map((x) => x.key));
  }
  if (first.map === 'lb_src_range') {
    const o = ops as SrcOp[];
    return first.kind === 'upsert' ? maps.srcRange.updateBatch(o.map((x) => [x.key, ALLOWED] as const)) : maps.srcRange.deleteBatch(o.map((x) => x.key));
  }
  const m = idMap(maps, first);
  const o = ops as IdOp[];
  return first.kind === 'upsert'
    ? m.updateBatch(o.map((x) => [{ id: x.id }, (x as Extract<IdOp, { kind: 'upsert' }>).value] as const))
    : m.deleteBatch(o.map((x) => ({ id: x.id })));
}

export async function apply(maps: ApplyMaps, ops: readonly Op[], state: MapState, opts: { batchMin?: number } = {}): Promise<ApplyResult> {
  const batchMin = opts.batchMin ?? 16;
  const failures = new Map<number, ApplyFailure>();
  const undo = new Map<number, Undo[]>();
  let applied = 0;
  let fallbacks = 0;

  const fail = async (op: Op, error: unknown) => {
    failures.set(op.unit, { unit: op.unit, op: describeOp(op), error });
    for (const u of (undo.get(op.unit) ?? []).reverse()) {
      try {
        await restore(maps, state, u);
      } catch {
        // best effort: the next full sync reconciles from the kernel again
      }
    }
    undo.delete(op.unit);
  };
  const record = (op: Op, u: Undo) => {
    const list = undo.get(op.unit);
    if (list) list.push(u);
    else undo.set(op.unit, [u]);
    applied++;
  };
  const one = async (op: Op) => {
    if (failures.has(op.unit)) return;
    try {
      record(op, await execOne(maps, state, op));
    } catch (e) {
      await fail(op, e);
    }
  };
  const each = async (list: Op[]) => {
    for (const op of list) await one(op);
  };

  for (let phase = 0; phase < PHASES.length; phase++) {
    const ops_ = ops.filter((o) => o.phase === phase && !failures.has(o.unit));
    if (ops_.length === 0) continue;
    // Maglev tables have no batch form: each is a map of its own.
    if (ops_.length < batchMin || ops_[0]!.map === 'maglev') {
      await each(ops_);
      continue;
    }
    // Remember the previous values first: the batch writes them all at once.
    const snapshot = ops_.map((op) => undoFor(state, op));
    try {
      await execBatch(maps, ops_ as Exclude<Op, MaglevOp>[]);
      for (const u of snapshot) {
        mirror(state, u.op);
        record(u.op, u);
      }
    } catch {
      // Find out which entries fail (and for which frontend) one by one; rewriting
      // entries the batch already wrote is idempotent.
      fallbacks++;
      await each(ops_);
    }
  }
  return { applied, failures, fallbacks };
}

function mirror(state: MapState, op: Op): void {
  if (op.map === 'maglev') {
    if (op.kind === 'upsert') state.maglev.set(op.svcId, op.entry);
    else state.maglev.delete(op.svcId);
  } else if (op.map === 'services') {
    if (op.kind === 'upsert') state.services.set(op.keyId, { key: op.key, value: op.value });
    else state.services.delete(op.keyId);
  } else if (op.map === 'lb_src_range') {
    if (op.kind === 'upsert') state.srcRanges.set(op.keyId, op.key);
    else state.srcRanges.delete(op.keyId);
  } else {
    const s = idMirror(state, op);
    if (op.kind === 'upsert') s.set(op.id, op.value);
    else s.delete(op.id);
  }
}

/** The undo of an op: what the mirror holds before the op runs. */
function undoFor(state: MapState, op: Op): Undo {
  if (op.map === 'lb_src_range') return { op, prev: state.srcRanges.get(op.keyId) };
  if (op.map === 'maglev') return { op, prev: state.maglev.get(op.svcId) };
  return { op, prev: op.map === 'services' ? state.services.get(op.keyId) : idMirror(state, op).get(op.id) };
}

/** Puts back what an op replaced, in the kernel and the mirror. */
async function restore(maps: ApplyMaps, state: MapState, { op, prev }: Undo): Promise<void> {
  if (op.map === 'maglev') {
    const p = prev as MaglevEntry | undefined;
    if (p) await maps.maglev.set(op.svcId, p);
    else maps.maglev.delete(op.svcId);
    if (p) state.maglev.set(op.svcId, p);
    else state.maglev.delete(op.svcId);
    return;
  }
  if (op.map === 'services') {
    const p = prev as { key: SvcKey; value: SvcValue } | undefined;
    if (p) maps.services.update(p.key, p.value);
    else maps.services.delete(op.key);
    if (p) state.services.set(op.keyId, p);
    else state.services.delete(op.keyId);
    return;
  }
  if (op.map === 'lb_src_range') {
    if (prev) {
      maps.srcRange.update(op.key, ALLOWED);
      state.srcRanges.set(op.keyId, op.key);
    } else {
      maps.srcRange.delete(op.key);
      state.srcRanges.delete(op.keyId);
    }
    return;
  }
  const m = idMap(maps, op);
  const s = idMirror(state, op);
  const p = prev as IdValue | undefined;
  if (p) {
    m.update({ id: op.id }, p);
    s.set(op.id, p);
  } else {
    m.delete({ id: op.id });
    s.delete(op.id);
  }
}
