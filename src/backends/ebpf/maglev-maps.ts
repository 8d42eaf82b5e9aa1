// Maglev tables in the kernel: one inner ARRAY map per distinct table, pointed at by the
// `maglev` map-in-map under the svc_id of every frontend that uses it (abi.h).
//
// A table is never edited where tc_lb can see it: a new inner map is created, filled whole,
// and only then swapped into `maglev` (one atomic update of the outer entry), so a lookup
// meets the old table or the new one, never a mix. The old map is freed by the kernel once
// nothing points at it.
//
// The fds of the tables in use stay open here, by digest: a second frontend with the same
// backends (NodePort next to its ClusterIP) is pointed at the same map instead of a copy.
import { BPF_MAP_TYPE_ARRAY, MAGLEV_INNER_FLAGS, type MaglevConfig, type U32Key } from './abi.js';
import type { MaglevWriter } from './apply.js';
import { type BpfMap, libbpf } from './libbpf.js';
import { maglevEntry, type MaglevEntry } from './state.js';

interface Table {
  fd: number;
  /** Frontends (svc_id) pointing at it. */
  users: Set<number>;
}

export class MaglevMaps implements MaglevWriter {
  private readonly tables = new Map<string, Table>();
  private readonly digestOf = new Map<number, string>();

  constructor(
    /** `maglev`: svc_id → inner map (written as an fd, read back as the map's id). */
    private readonly outer: BpfMap<U32Key, U32Key>,
    private readonly config: BpfMap<U32Key, MaglevConfig>,
  ) {}

  /**
   * Makes maglev_cfg say `want`. Tables built for another size or seed would index or hash
   * wrongly under it, so they go first: until the next sync writes new ones, maglev frontends
   * pick at random (new flows only; tracked ones keep their backend). Returns whether the
   * old tables were dropped.
   */
  async configure(want: MaglevConfig): Promise<boolean> {
    const cur = this.config.lookup({ id: 0 });
    if (cur && cur.tableSize === want.tableSize && cur.flowSeed === want.flowSeed) return false;
    const stale = await this.outer.dump();
    for (const [k] of stale) this.outer.delete(k);
    this.config.update({ id: 0 }, want);
    this.forgetAll();
    return stale.length > 0;
  }

  /** Every frontend's table as the kernel holds it; the fds of what is in use are kept. */
  async read(): Promise<Map<number, MaglevEntry>> {
    this.forgetAll();
    const out = await readMaglevTables(this.outer, (digest, fd) => {
      if (this.tables.has(digest)) return false;
      this.tables.set(digest, { fd, users: new Set() });
      return true;
    });
    for (const [svcId, entry] of out) this.use(svcId, entry.digest);
    return out;
  }

  async set(svcId: number, entry: MaglevEntry): Promise<void> {
    let t = this.tables.get(entry.digest);
    if (!t) {
      const fd = await writeTable(entry);
      t = { fd, users: new Set() };
      this.tables.set(entry.digest, t);
    }
    try {
      this.outer.update({ id: svcId }, { id: t.fd });
    } catch (e) {
      if (t.users.size === 0) this.drop(entry.digest);
      throw e;
    }
    this.use(svcId, entry.digest);
  }

  delete(svcId: number): boolean {
    const had = this.outer.delete({ id: svcId });
    this.release(svcId);
    return had;
  }

  /** Entries of `maglev` (the verify sync compares it with what the service ports wrote). */
  count(): Promise<number> {
    return this.outer.count();
  }

  /** Distinct tables held open (tests: frontends with equal backends share one). */
  get tableCount(): number {
    return this.tables.size;
  }

  /** Closes our fds; the tables stay as long as `maglev` points at them. */
  close(): void {
    this.forgetAll();
  }

  private use(svcId: number, digest: string): void {
    if (this.digestOf.get(svcId) === digest) return;
    this.release(svcId);
    this.digestOf.set(svcId, digest);
    this.tables.get(digest)!.users.add(svcId);
  }

  private release(svcId: number): void {
    const d = this.digestOf.get(svcId);
    if (d === undefined) return;
    this.digestOf.delete(svcId);
    const t = this.tables.get(d);
    t?.users.delete(svcId);
    if (t && t.users.size === 0) this.drop(d);
  }

  private drop(digest: string): void {
    const t = this.tables.get(digest);
    if (!t) return;
    this.tables.delete(digest);
    libbpf.closeFd(t.fd);
  }

  private forgetAll(): void {
    for (const t of this.tables.values()) libbpf.closeFd(t.fd);
    this.tables.clear();
    this.digestOf.clear();
  }
}

/**
 * Every frontend's table, read from the kernel (each distinct inner map once). `keep` may take
 * ownership of an inner map's fd (returns true); otherwise it is closed.
 */
export async function readMaglevTables(outer: BpfMap<U32Key, U32Key>, keep?: (digest: string, fd: number) => boolean): Promise<Map<number, MaglevEntry>> {
  const out = new Map<number, MaglevEntry>();
  const byMapId = new Map<number, MaglevEntry>();
  for (const [{ id: svcId }, { id: mapId }] of await outer.dump()) {
    let entry = byMapId.get(mapId);
    if (!entry) {
      let fd: number;
      try {
        fd = libbpf.mapFdById(mapId);
      } catch {
        continue; // replaced or removed since the dump: absent, as far as this read goes
      }
      try {
        entry = await readTable(fd);
      } catch (e) {
        libbpf.closeFd(fd);
        throw e;
      }
      if (!keep?.(entry.digest, fd)) libbpf.closeFd(fd);
      byMapId.set(mapId, entry);
    }
    out.set(svcId, entry);
  }
  return out;
}

/** A new inner map holding `entry`, filled whole (one batch) before anyone can see it. */
async function writeTable(entry: MaglevEntry): Promise<number> {
  const m = entry.ids.length;
  const fd = libbpf.mapCreate({ type: BPF_MAP_TYPE_ARRAY, name: 'maglev_table', keySize: 4, valueSize: 4, maxEntries: m, flags: MAGLEV_INNER_FLAGS });
  try {
    const keys = Buffer.from(Uint32Array.from({ length: m }, (_, i) => i).buffer);
    const values = Buffer.from(entry.ids.buffer, entry.ids.byteOffset, entry.ids.byteLength);
    await libbpf.updateBatchRaw(fd, keys, values, m);
  } catch (e) {
    libbpf.closeFd(fd);
    throw e;
  }
  return fd;
}

/** An inner map's table, slot by slot. */
export async function readTable(fd: number): Promise<MaglevEntry> {
  const info = libbpf.mapInfo(fd);
  const r = await libbpf.dumpRaw(fd, 4, 4, info.maxEntries);
  const ids = new Uint32Array(info.maxEntries);
  for (let i = 0; i < r.count; i++) ids[r.keys.readUInt32LE(i * 4)] = r.values.readUInt32LE(i * 4);
  return maglevEntry(ids);
}
