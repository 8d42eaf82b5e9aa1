// Conntrack garbage collection. tc_lb gives every entry an expiry and ignores flows that are
// over, but only the controller deletes them: a pass dumps the map in one batch, finds the
// flows that are over (an RST went through, or both entries past their expiry) and deletes
// both of their entries in one batch. Without it, closed flows would sit in the LRU map
// until it is full, and the LRU would then evict live flows that are merely quiet.
//
// Works on the raw dump (abi.h layouts), not the codecs: a full map is 512k entries. The
// offsets come from the codecs' field specs, for conntrack (IPv4) and conntrack6 alike.
import * as abi from './abi.js';
import { BPF_ANY, addon, type BpfMap } from './libbpf.js';

/** Where the fields of one family's ct key and value are (bytes). */
export interface CtLayout {
  K: number; V: number; A: number;
  K_SADDR: number; K_DADDR: number; K_SPORT: number; K_DPORT: number; K_PROTO: number; K_PAD0: number;
  V_EXPIRES: number; V_SVC: number; V_NAT_ADDR: number; V_ORIG_ADDR: number; V_NAT_PORT: number; V_FLAGS: number; V_ORIG_PORT: number;
}

function layoutOf(key: abi.StructCodec<abi.CtKey>, value: abi.StructCodec<abi.CtValue>): CtLayout {
  const at = (c: abi.StructCodec<unknown>, name: string) => c.fields.find((f) => f.c === name)!.offset;
  const k = key as abi.StructCodec<unknown>, v = value as abi.StructCodec<unknown>;
  return {
    K: key.size, V: value.size, A: key.fields.find((f) => f.c === 'saddr')!.size,
    K_SADDR: at(k, 'saddr'), K_DADDR: at(k, 'daddr'), K_SPORT: at(k, 'sport'), K_DPORT: at(k, 'dport'), K_PROTO: at(k, 'proto'), K_PAD0: at(k, 'pad0'),
    V_EXPIRES: at(v, 'expires'), V_SVC: at(v, 'svc_id'), V_NAT_ADDR: at(v, 'nat_addr'), V_ORIG_ADDR: at(v, 'orig_addr'),
    V_NAT_PORT: at(v, 'nat_port'), V_FLAGS: at(v, 'flags'), V_ORIG_PORT: at(v, 'orig_port'),
  };
}

export const CT4: CtLayout = layoutOf(abi.ctKey, abi.ctValue);
export const CT6: CtLayout = layoutOf(abi.ct6Key, abi.ct6Value);

// The IPv4 layout, for the legacy conversion (IPv4 only: conntrack6 never had an older layout).
const { K, V, K_PAD0, K_PROTO, V_EXPIRES, V_FLAGS } = CT4;
const V_PAD1 = 8;

/** CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_coarse_ns() follows (at most a tick behind). */
export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

/** abi.h's lifetime of an entry in this state (ct_lifetime_ns). */
export function lifetimeNs(proto: number, flags: number): bigint {
  const s = (n: number) => BigInt(n) * 1_000_000_000n;
  if (proto !== abi.PROTO_TCP) return s(abi.CT_UDP_TIMEOUT_S);
  if (flags & abi.CT_F_DEAD) return 0n;
  if (flags & abi.CT_F_CLOSING) return s(abi.CT_CLOSE_TIMEOUT_S);
  if (flags & abi.CT_F_ESTABLISHED) return s(abi.CT_TCP_TIMEOUT_S);
  return s(abi.CT_SYN_TIMEOUT_S);
}

/** The key of the other entry of entry i's flow (ct_partner_key in conntrack.h). */
export function partnerKey(keys: Buffer, values: Buffer, i: number, L: CtLayout = CT4): Buffer {
  const { K, V, A, K_SADDR, K_DADDR, K_SPORT, K_DPORT, K_PROTO, V_NAT_ADDR, V_ORIG_ADDR, V_NAT_PORT, V_FLAGS, V_ORIG_PORT } = L;
  const k = i * K, v = i * V;
  const o = Buffer.alloc(K);
  const flags = values.readUInt16LE(v + V_FLAGS);
  const snat = values.subarray(v + V_ORIG_ADDR, v + V_ORIG_ADDR + A).some((b) => b !== 0);
  const copy = (dst: number, src: Buffer, at: number, n: number) => src.copy(o, dst, at, at + n);
  if (flags & abi.CT_F_REPLY) {
    copy(K_SADDR, snat ? values : keys, snat ? v + V_ORIG_ADDR : k + K_DADDR, A);
    copy(K_DADDR, values, v + V_NAT_ADDR, A);
    copy(K_SPORT, snat ? values : keys, snat ? v + V_ORIG_PORT : k + K_DPORT, 2);
    copy(K_DPORT, values, v + V_NAT_PORT, 2);
  } else {
    const snatPort = snat && values.readUInt16BE(v + V_ORIG_PORT) !== 0;
    copy(K_SADDR, values, v + V_NAT_ADDR, A);
    copy(K_DADDR, snat ? values : keys, snat ? v + V_ORIG_ADDR : k + K_SADDR, A);
    copy(K_SPORT, values, v + V_NAT_PORT, 2);
    copy(K_DPORT, snatPort ? values : keys, snatPort ? v + V_ORIG_PORT : k + K_SPORT, 2);
  }
  o[K_PROTO] = keys[k + K_PROTO]!;
  return o;
}

export interface CtDump { keys: Buffer; values: Buffer; count: number }

/**
 * Indexes of the entries whose flow is over at `now` (ct_flow_over in conntrack.h): an RST
 * went through either entry, or both are past their expiry (a missing partner, or one that
 * now belongs to another flow, counts as expired). Entries that are not CT_F_TIMED (older
 * versions, not converted) are left alone. Pure.
 */
export function overEntries(d: CtDump, now: bigint, L: CtLayout = CT4): number[] {
  const { keys, values, count } = d;
  const { K, V, V_FLAGS, V_EXPIRES, V_SVC } = L;
  const flagsOf = (i: number) => values.readUInt16LE(i * V + V_FLAGS);
  const expired = (i: number) => values.readBigUInt64LE(i * V + V_EXPIRES) <= now;
  const index = new Map<string, number>();
  for (let i = 0; i < count; i++) index.set(keys.toString('latin1', i * K, i * K + K), i);
  const partner = (i: number): number | undefined => {
    const j = index.get(partnerKey(keys, values, i, L).toString('latin1'));
    if (j === undefined) return undefined;
    const paired =
      (flagsOf(j) & abi.CT_F_REPLY) !== (flagsOf(i) & abi.CT_F_REPLY) &&
      values.readUInt32LE(j * V + V_SVC) === values.readUInt32LE(i * V + V_SVC) &&
      partnerKey(keys, values, j, L).equals(keys.subarray(i * K, i * K + K));
    return paired ? j : undefined;
  };
  const over: number[] = [];
  for (let i = 0; i < count; i++) {
    const flags = flagsOf(i);
    if (!(flags & abi.CT_F_TIMED)) continue;
    const j = partner(i);
    const dead = (flags & abi.CT_F_DEAD) !== 0 || (j !== undefined && (flagsOf(j) & abi.CT_F_DEAD) !== 0);
    if (dead || (expired(i) && (j === undefined || expired(j)))) over.push(i);
  }
  return over;
}

/**
 * Converts entries written before CT_F_TIMED: the direction moves from the key (byte 13,
 * 1 = reply) to CT_F_REPLY, and each gets the expiry of an established flow from now. A reply
 * entry is written under its new key and its old key is left for the programs still
 * attached until the new ones replace them; the next pass deletes it (legacyLeftovers).
 */
export function convertLegacy(d: CtDump, now: bigint): Array<{ key: Buffer; value: Buffer }> {
  const out: Array<{ key: Buffer; value: Buffer }> = [];
  for (let i = 0; i < d.count; i++) {
    const flags = d.values.readUInt16LE(i * V + V_FLAGS);
    if (flags & abi.CT_F_TIMED) continue;
    const key = Buffer.from(d.keys.subarray(i * K, i * K + K));
    const value = Buffer.from(d.values.subarray(i * V, i * V + V));
    const reply = key[K_PAD0] === 1;
    key[K_PAD0] = 0;
    // Their TCP state is unknown: taken as established (the next packet corrects it).
    const tcp = key[K_PROTO] === abi.PROTO_TCP ? abi.CT_F_ESTABLISHED : 0;
    const newFlags = (reply ? flags | abi.CT_F_REPLY : flags & ~abi.CT_F_REPLY) | abi.CT_F_TIMED | tcp;
    value.writeUInt16LE(newFlags, V_FLAGS);
    value.writeBigUInt64LE(now + lifetimeNs(key[K_PROTO]!, newFlags), V_EXPIRES);
    value.writeBigUInt64LE(0n, V_PAD1);
    out.push({ key, value });
  }
  return out;
}

/** Old-layout reply entries (key byte 13 = 1) that convertLegacy copied: garbage once the
 * current programs are attached, which never look them up. */
function legacyLeftovers(d: CtDump): number[] {
  const out: number[] = [];
  for (let i = 0; i < d.count; i++) if (d.keys[i * K + K_PAD0] !== 0) out.push(i);
  return out;
}

async function deleteEntries(map: BpfMap<abi.CtKey, abi.CtValue>, d: CtDump, victims: number[], L: CtLayout): Promise<void> {
  if (!victims.length) return;
  const keys = Buffer.alloc(victims.length * L.K);
  victims.forEach((i, n) => d.keys.copy(keys, n * L.K, i * L.K, i * L.K + L.K));
  await addon().mapDeleteBatch(map.fd, keys, victims.length);
}

export interface CtGcPass { scanned: number; deleted: number; durationMs: number }

export class ConntrackGc {
  private timer?: NodeJS.Timeout;
  private running?: Promise<CtGcPass>;
  /** Totals since start, for metrics and logs. */
  readonly totals = { passes: 0, deleted: 0, lastScanned: 0 };

  /** `map6`: conntrack6, collected in the same pass (its own dump and delete). */
  constructor(
    private readonly map: BpfMap<abi.CtKey, abi.CtValue>,
    private readonly onPass: (p: CtGcPass) => void = () => {},
    private readonly onError: (e: unknown) => void = () => {},
    private readonly map6?: BpfMap<abi.CtKey, abi.CtValue>,
  ) {}

  private async dump(map = this.map, L = CT4): Promise<CtDump> {
    return addon().mapDump(map.fd, L.K, L.V, map.maxEntries);
  }

  /** Converts entries of older versions in place (see convertLegacy; IPv4 only). Before attaching. */
  async convert(now = monotonicNs()): Promise<number> {
    const entries = convertLegacy(await this.dump(), now);
    for (const e of entries) addon().mapUpdate(this.map.fd, e.key, e.value, BPF_ANY);
    return entries.length;
  }

  /** One pass: deletes every entry of every flow that is over at `now`. */
  async collect(now = monotonicNs()): Promise<CtGcPass> {
    this.running ??= (async () => {
      const t0 = performance.now();
      const d = await this.dump();
      const victims = [...overEntries(d, now), ...legacyLeftovers(d)];
      await deleteEntries(this.map, d, victims, CT4);
      let scanned = d.count, deleted = victims.length;
      if (this.map6) {
        const d6 = await this.dump(this.map6, CT6);
        const v6 = overEntries(d6, now, CT6);
        await deleteEntries(this.map6, d6, v6, CT6);
        scanned += d6.count;
        deleted += v6.length;
      }
      const pass = { scanned, deleted, durationMs: performance.now() - t0 };
      this.totals.passes++;
      this.totals.deleted += pass.deleted;
      this.totals.lastScanned = pass.scanned;
      return pass;
    })();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Collects every intervalMs (0: never) until stop(). */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.collect().then(this.onPass, this.onError);
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
