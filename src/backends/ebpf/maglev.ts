// Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, section 3.4). Pure: the same backend names, size and seed give the
// same table on every node, whatever order the backends come in and whatever ids this node
// gave them, so a flow reaches the same backend through any node.
//
// Each backend i has a preference list over the M slots: permutation[i][j] = (offset +
// j·skip) mod M, with offset = h1(name) mod M and skip = h2(name) mod (M−1) + 1. M prime makes
// every skip coprime to M, so each list visits every slot once. Backends then take turns
// (round robin, in name order), each claiming its next preferred slot still free, until the
// table is full: every backend ends up with ⌊M/N⌋ or ⌈M/N⌉ slots, and removing one backend
// mostly reassigns only the slots it held.
//
// h1, h2: the first and second 64-bit big-endian words of SHA-256(seed ‖ 0x00 ‖ name) (Node's
// own crypto: nothing to install, identical everywhere; N hashes per table, so its cost does
// not matter). The 0x00 keeps "a"+"bc" apart from "ab"+"c".
import { createHash } from 'node:crypto';
import { MAGLEV_SIZE_MAX, MAGLEV_SIZE_MIN } from './abi.js';

/** The documented default of --maglev-seed. Nodes must share the seed to share tables. */
export const DEFAULT_MAGLEV_SEED = 'bpfproxy';

/** A backend's preference list, as the paper defines it: permutation[j] = (offset + j·skip) mod M. */
export interface Preference {
  offset: number;
  skip: number;
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Throws a message naming `what` unless `m` is a prime within MAGLEV_SIZE_MIN..MAX. */
export function checkTableSize(m: number, what = 'maglev table size'): number {
  if (!Number.isInteger(m) || m < MAGLEV_SIZE_MIN || m > MAGLEV_SIZE_MAX)
    throw new Error(`${what}: want a prime from ${MAGLEV_SIZE_MIN} to ${MAGLEV_SIZE_MAX}, got ${m}`);
  if (!isPrime(m)) throw new Error(`${what}: ${m} is not prime (a prime size makes every backend's preference list visit every slot; e.g. 16381, 32749, 65521)`);
  return m;
}

/** offset and skip of a backend for a table of size m (prime). */
export function preferenceOf(name: string, m: number, seed: string): Preference {
  const d = createHash('sha256').update(seed).update('\0').update(name).digest();
  const h1 = d.readBigUInt64BE(0);
  const h2 = d.readBigUInt64BE(8);
  return { offset: Number(h1 % BigInt(m)), skip: Number(h2 % BigInt(m - 1)) + 1 };
}

/**
 * The paper's Pseudocode 1 (Populate): entry[slot] = index of the backend (into `prefs`) that
 * owns it. `prefs` is taken in the order given; the turn order decides ties, so callers that
 * need order independence sort first (maglevTable does). Needs 1 ≤ prefs.length ≤ m.
 */
export function populate(prefs: readonly Preference[], m: number): Int32Array {
  const n = prefs.length;
  if (n === 0 || n > m) throw new Error(`maglev: ${n} backends do not fit a table of ${m}`);
  const entry = new Int32Array(m).fill(-1);
  // pos[i] = permutation[i][next[i]], stepped by skip (mod m) instead of recomputed.
  const pos = Int32Array.from(prefs, (p) => p.offset);
  const skip = Int32Array.from(prefs, (p) => p.skip);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let c = pos[i]!;
      while (entry[c]! >= 0) {
        c += skip[i]!;
        if (c >= m) c -= m;
      }
      entry[c] = i;
      c += skip[i]!;
      pos[i] = c >= m ? c - m : c;
      if (++filled === m) return entry;
    }
  }
}

/** The lookup table over backends named `names` (distinct), as indexes into the returned `order`. */
export function maglevTable(names: readonly string[], m: number, seed: string): { order: string[]; entry: Int32Array } {
  const order = [...names].sort();
  return { order, entry: populate(order.map((n) => preferenceOf(n, m, seed)), m) };
}

/** Flow hash seed for maglev_cfg, from the same --maglev-seed (its own domain: "flow" ‖ 0x00 ‖ seed). */
export function flowSeedOf(seed: string): number {
  return createHash('sha256').update('flow').update('\0').update(seed).digest().readUInt32BE(0);
}
