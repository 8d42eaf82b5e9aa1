// Executes diff() operations against the maps, phase by phase, batched where possible.
// A failing operation (map full, …) fails only its service port (the op's unit): its later
// ops are skipped and the ops it already applied in this run are undone, so it keeps its
// previous state while every other service port is still programmed. `state` mirrors the
// kernel for the entries the ops touch (it may hold only those).
import type { BackendValue, LbSrcKey, LbSrcValue, RevNatValue, SvcKey, SvcMeta, SvcValue, U32Key } from './abi.js';
import type { BatchResult } from './libbpf.js';
import type { Op } from './diff.js';
import { PHASES } from './diff.js';
import { srcRangeId, svcKeyId, type MapState } from './state.js';

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
}

/** Every lb_src_range entry holds this value: the key alone says "allowed". */
const ALLOWED: LbSrcValue = { allowed: 1 };

type IdOp = Extract<Op, { map: 'backends' | 'rev_nat' | 'svc_meta' }>;
type SrcOp = Extract<Op, { map: 'lb_src_range' }>;
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
  prev: { key: SvcKey; value: SvcValue } | IdValue | LbSrcKey | undefined;
}

function describeOp(op: Op): string {
  const what = op.map === 'services' ? svcKeyId(op.key) : op.map === 'lb_src_range' ? srcRangeId(op.key) : `id ${op.id}`;
  return `${PHASES[op.phase]} ${op.map} ${what}`;
}

/** Runs one op against the kernel and the mirror; returns how to restore both. */
function execOne(maps: ApplyMaps, state: MapState, op: Op): Undo {
  const u = undoFor(state, op);
  if (op.map === 'services') {
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
async function execBatch(maps: ApplyMaps, ops: Op[]): Promise<BatchResult> {
  const first = ops[0]!;
  if (first.map === 'services') {
    const o = ops as Extract<Op, { map: 'services' }>[];
    return first.kind === 'upsert'
      ? maps.services.updateBatch(o.map((x) => [x.key, (x as Extract<Op, { kind: 'upsert' }>).value as SvcValue] as const))
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

  const fail = (op: Op, error: unknown) => {
    failures.set(op.unit, { unit: op.unit, op: describeOp(op), error });
    for (const u of (undo.get(op.unit) ?? []).reverse()) {
      try {
        restore(maps, state, u);
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
  const one = (op: Op) => {
    if (failures.has(op.unit)) return;
    try {
      record(op, execOne(maps, state, op));
    } catch (e) {
      fail(op, e);
    }
  };

  for (let phase = 0; phase < PHASES.length; phase++) {
    const ops_ = ops.filter((o) => o.phase === phase && !failures.has(o.unit));
    if (ops_.length === 0) continue;
    if (ops_.length < batchMin) {
      ops_.forEach(one);
      continue;
    }
    // Remember the previous values first: the batch writes them all at once.
    const snapshot = ops_.map((op) => undoFor(state, op));
    try {
      await execBatch(maps, ops_);
      for (const u of snapshot) {
        mirror(state, u.op);
        record(u.op, u);
      }
    } catch {
      // Find out which entries fail (and for which frontend) one by one; rewriting
      // entries the batch already wrote is idempotent.
      fallbacks++;
      ops_.forEach(one);
    }
  }
  return { applied, failures, fallbacks };
}

function mirror(state: MapState, op: Op): void {
  if (op.map === 'services') {
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
  return { op, prev: op.map === 'services' ? state.services.get(op.keyId) : idMirror(state, op).get(op.id) };
}

/** Puts back what an op replaced, in the kernel and the mirror. */
function restore(maps: ApplyMaps, state: MapState, { op, prev }: Undo): void {
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
