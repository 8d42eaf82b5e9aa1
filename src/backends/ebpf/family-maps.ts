// The service tables of both address families as one: render/diff/apply/state keep a single
// MapState whose addresses are text of either family, and each entry goes to the IPv4 map or
// its IPv6 twin (services6, backends6, rev_nat6) by its address. Ids come from one allocator,
// so an id-keyed entry (backend, rev_nat) lives in exactly one of the two maps.
import { isIPv4 } from 'node:net';
import type { BackendValue, RevNatValue, SvcKey, SvcValue, U32Key } from './abi.js';
import type { MapLike } from './apply.js';
import type { BatchResult, BpfMap } from './libbpf.js';

export type Family = 4 | 6;

export const familyOf = (ip: string): Family => (isIPv4(ip) ? 4 : 6);

/** What readState/apply/verify need of one table (a BpfMap, or both families of it). */
export interface TableMap<K, V> extends MapLike<K, V> {
  readonly name: string;
  readonly maxEntries: number;
  dump(): Promise<Array<[K, V]>>;
  count(): Promise<number>;
}

function mergeBatch(a: BatchResult, b: BatchResult): BatchResult {
  return { done: a.done + b.done, fallback: a.fallback || b.fallback };
}

const NONE: Promise<BatchResult> = Promise.resolve({ done: 0, fallback: false });

/** services / services6: the family is the key's VIP. */
export class ServicesByFamily implements TableMap<SvcKey, SvcValue> {
  readonly name = 'services';
  constructor(private readonly v4: BpfMap<SvcKey, SvcValue>, private readonly v6: BpfMap<SvcKey, SvcValue>) {}
  get maxEntries(): number {
    return this.v4.maxEntries;
  }
  private of(k: SvcKey): BpfMap<SvcKey, SvcValue> {
    return familyOf(k.vip) === 4 ? this.v4 : this.v6;
  }
  update(k: SvcKey, v: SvcValue): void {
    this.of(k).update(k, v);
  }
  delete(k: SvcKey): boolean {
    return this.of(k).delete(k);
  }
  async updateBatch(entries: ReadonlyArray<readonly [SvcKey, SvcValue]>): Promise<BatchResult> {
    const [a, b] = await Promise.all([
      split(entries, (e) => familyOf(e[0].vip) === 4, (x) => this.v4.updateBatch(x)),
      split(entries, (e) => familyOf(e[0].vip) === 6, (x) => this.v6.updateBatch(x)),
    ]);
    return mergeBatch(a, b);
  }
  async deleteBatch(keys: readonly SvcKey[]): Promise<BatchResult> {
    const [a, b] = await Promise.all([
      split(keys, (k) => familyOf(k.vip) === 4, (x) => this.v4.deleteBatch(x)),
      split(keys, (k) => familyOf(k.vip) === 6, (x) => this.v6.deleteBatch(x)),
    ]);
    return mergeBatch(a, b);
  }
  async dump(): Promise<Array<[SvcKey, SvcValue]>> {
    const [a, b] = await Promise.all([this.v4.dump(), this.v6.dump()]);
    return [...a, ...b];
  }
  async count(): Promise<number> {
    const [a, b] = await Promise.all([this.v4.count(), this.v6.count()]);
    return a + b;
  }
}

/**
 * backends / rev_nat and their twins: keyed by id, the family is the value's address. A delete
 * has only the id: it goes where that id was last written or read; an id never seen (another
 * process's entry) is deleted from both.
 */
export class IdsByFamily<V extends BackendValue | RevNatValue> implements TableMap<U32Key, V> {
  private readonly v6ids = new Set<number>();
  private readonly v4ids = new Set<number>();
  constructor(
    readonly name: string,
    private readonly v4: BpfMap<U32Key, V>,
    private readonly v6: BpfMap<U32Key, V>,
  ) {}
  get maxEntries(): number {
    return this.v4.maxEntries;
  }
  private static addr(v: BackendValue | RevNatValue): string {
    return 'ip' in v ? v.ip : v.vip;
  }
  private note(id: number, f: Family): void {
    (f === 4 ? this.v4ids : this.v6ids).add(id);
    (f === 4 ? this.v6ids : this.v4ids).delete(id);
  }
  update(k: U32Key, v: V): void {
    const f = familyOf(IdsByFamily.addr(v));
    (f === 4 ? this.v4 : this.v6).update(k, v);
    this.note(k.id, f);
  }
  delete(k: U32Key): boolean {
    const known = this.v4ids.has(k.id) ? 4 : this.v6ids.has(k.id) ? 6 : undefined;
    this.v4ids.delete(k.id);
    this.v6ids.delete(k.id);
    if (known === 4) return this.v4.delete(k);
    if (known === 6) return this.v6.delete(k);
    const a = this.v4.delete(k);
    const b = this.v6.delete(k);
    return a || b;
  }
  async updateBatch(entries: ReadonlyArray<readonly [U32Key, V]>): Promise<BatchResult> {
    const is4 = (e: readonly [U32Key, V]) => familyOf(IdsByFamily.addr(e[1])) === 4;
    const [a, b] = await Promise.all([
      split(entries, is4, (x) => this.v4.updateBatch(x)),
      split(entries, (e) => !is4(e), (x) => this.v6.updateBatch(x)),
    ]);
    for (const e of entries) this.note(e[0].id, is4(e) ? 4 : 6);
    return mergeBatch(a, b);
  }
  async deleteBatch(keys: readonly U32Key[]): Promise<BatchResult> {
    // Unknown ids: one by one (from whichever map holds them).
    const unknown = keys.filter((k) => !this.v4ids.has(k.id) && !this.v6ids.has(k.id));
    for (const k of unknown) this.delete(k);
    const [a, b] = await Promise.all([
      split(keys, (k) => this.v4ids.has(k.id), (x) => this.v4.deleteBatch(x)),
      split(keys, (k) => this.v6ids.has(k.id), (x) => this.v6.deleteBatch(x)),
    ]);
    for (const k of keys) {
      this.v4ids.delete(k.id);
      this.v6ids.delete(k.id);
    }
    return mergeBatch(a, b);
  }
  async dump(): Promise<Array<[U32Key, V]>> {
    const [a, b] = await Promise.all([this.v4.dump(), this.v6.dump()]);
    for (const [k] of a) this.note(k.id, 4);
    for (const [k] of b) this.note(k.id, 6);
    return [...a, ...b];
  }
  async count(): Promise<number> {
    const [a, b] = await Promise.all([this.v4.count(), this.v6.count()]);
    return a + b;
  }
}

/** Runs `op` on the items that pass `keep` (nothing to do: a zero result, no syscall). */
function split<T>(items: readonly T[], keep: (x: T) => boolean, op: (x: T[]) => Promise<BatchResult>): Promise<BatchResult> {
  const mine = items.filter(keep);
  return mine.length ? op(mine) : NONE;
}

/** The three service tables of a data plane, both families each. */
export interface LbTables {
  services: ServicesByFamily;
  backends: IdsByFamily<BackendValue>;
  revNat: IdsByFamily<RevNatValue>;
}

export function lbTables(m: {
  services: BpfMap<SvcKey, SvcValue>; services6: BpfMap<SvcKey, SvcValue>;
  backends: BpfMap<U32Key, BackendValue>; backends6: BpfMap<U32Key, BackendValue>;
  revNat: BpfMap<U32Key, RevNatValue>; revNat6: BpfMap<U32Key, RevNatValue>;
}): LbTables {
  return {
    services: new ServicesByFamily(m.services, m.services6),
    backends: new IdsByFamily('backends', m.backends, m.backends6),
    revNat: new IdsByFamily('rev_nat', m.revNat, m.revNat6),
  };
}
