// The Maglev table builder against the paper (Eisenbud et al., NSDI 2016, section 3.4,
// Table 1), and the properties every node relies on: balance, order independence, the seed.
import { describe, expect, it } from 'vitest';
import { MAGLEV_SIZE_DEFAULT } from '../../../src/backends/ebpf/abi.js';
import { checkTableSize, flowSeedOf, isPrime, maglevTable, populate, preferenceOf } from '../../../src/backends/ebpf/maglev.js';

/** backend name of each slot */
const slots = (t: { order: string[]; entry: Int32Array }) => [...t.entry].map((i) => t.order[i]!);
const backends = (n: number) => Array.from({ length: n }, (_, i) => `198.18.${1 + (i >> 8)}.${i & 255}:9376`);

describe('maglev table: the paper\'s example (Table 1, M = 7)', () => {
  // The paper's permutation tables, as offset/skip (permutation[j] = (offset + j·skip) mod 7):
  //   B0 offset 3, skip 4: 3, 7→0, 11→4, 15→1, 19→5, 23→2, 27→6  = 3 0 4 1 5 2 6
  //   B1 offset 0, skip 2: 0, 2, 4, 6, 8→1, 10→3, 12→5           = 0 2 4 6 1 3 5
  //   B2 offset 3, skip 1: 3, 4, 5, 6, 7→0, 8→1, 9→2             = 3 4 5 6 0 1 2
  const B0 = { offset: 3, skip: 4 };
  const B1 = { offset: 0, skip: 2 };
  const B2 = { offset: 3, skip: 1 };

  it('fills the "before" lookup table: B1 B0 B1 B0 B2 B2 B0', () => {
    // Turns, each backend taking its next preferred slot still free:
    //   B0: 3 free → slot 3 = B0        B1: 0 free → slot 0 = B1     B2: 3 taken, 4 → slot 4 = B2
    //   B0: 0 taken, 4 taken, 1 → 1=B0  B1: 2 free → slot 2 = B1     B2: 5 free → slot 5 = B2
    //   B0: 5 taken, 2 taken, 6 → 6=B0  (7 slots filled: done)
    expect([...populate([B0, B1, B2], 7)]).toEqual([1, 0, 1, 0, 2, 2, 0]);
  });

  it('fills the "after B1 is removed" table: B0 B0 B0 B0 B2 B2 B2', () => {
    //   B0: 3 → slot 3     B2: 3 taken, 4 → slot 4
    //   B0: 0 → slot 0     B2: 5 → slot 5
    //   B0: 4 taken, 1 → 1 B2: 6 → slot 6
    //   B0: 5 taken, 2 → 2 (full)
    // Slots 0 and 2 (B1's) move, and so does slot 6 (B0 → B2): Maglev is close to, not
    // exactly, minimal disruption, as the paper says of this example.
    expect([...populate([B0, B2], 7)]).toEqual([0, 0, 0, 0, 1, 1, 1]);
  });

  it('a backend\'s preference visits every slot once (M prime)', () => {
    const p = preferenceOf('198.18.1.10:9376', 7, 'x');
    expect(p.offset).toBeGreaterThanOrEqual(0);
    expect(p.offset).toBeLessThan(7);
    expect(p.skip).toBeGreaterThanOrEqual(1);
    expect(p.skip).toBeLessThan(7);
    expect(new Set(Array.from({ length: 7 }, (_, j) => (p.offset + j * p.skip) % 7)).size).toBe(7);
  });
});

describe('maglev table: properties', () => {
  it.each([1, 2, 3, 10, 97, 250])('N = %i backends each get ⌊M/N⌋ or ⌈M/N⌉ of M = 251 and of M = 16381 slots', (n) => {
    for (const m of [251, MAGLEV_SIZE_DEFAULT]) {
      const counts = new Map<string, number>();
      for (const b of slots(maglevTable(backends(n), m, 'bpfproxy'))) counts.set(b, (counts.get(b) ?? 0) + 1);
      expect(counts.size).toBe(n);
      for (const c of counts.values()) expect([Math.floor(m / n), Math.ceil(m / n)]).toContain(c);
    }
  });

  it('the same backends and seed give the same table whatever order they come in', () => {
    const names = backends(10);
    const shuffled = [names[7]!, names[2]!, names[9]!, names[0]!, names[5]!, names[1]!, names[8]!, names[3]!, names[6]!, names[4]!];
    const a = slots(maglevTable(names, 16381, 'bpfproxy'));
    expect(slots(maglevTable(shuffled, 16381, 'bpfproxy'))).toEqual(a);
    expect(slots(maglevTable([...names].reverse(), 16381, 'bpfproxy'))).toEqual(a);
  });

  it('another seed gives another table (and another flow seed)', () => {
    const a = slots(maglevTable(backends(10), 16381, 'bpfproxy'));
    const b = slots(maglevTable(backends(10), 16381, 'cluster-2'));
    const same = a.filter((x, i) => x === b[i]).length;
    // Independent tables agree on about 1/N of the slots, not on all of them.
    expect(same / a.length).toBeLessThan(0.2);
    expect(flowSeedOf('bpfproxy')).not.toBe(flowSeedOf('cluster-2'));
    expect(flowSeedOf('bpfproxy')).toBe(flowSeedOf('bpfproxy'));
  });

  it('removing one of 10 backends reassigns its slots and few others (table level)', () => {
    const names = backends(10);
    const before = slots(maglevTable(names, 16381, 'bpfproxy'));
    const after = slots(maglevTable(names.slice(1), 16381, 'bpfproxy'));
    const kept = before.map((b, i) => [b, after[i]] as const).filter(([b]) => b !== names[0]);
    const moved = kept.filter(([b, a]) => a !== b).length / kept.length;
    console.log(`maglev table: N=10 → 9, M=16381: ${(moved * 100).toFixed(2)}% of the other backends' slots moved`);
    expect(before.filter((b, i) => b === names[0] && after[i] === names[0])).toEqual([]);
    expect(moved).toBeLessThan(0.02);
  });

  it('refuses more backends than slots, and no backends', () => {
    expect(() => populate([], 7)).toThrow(/0 backends/);
    expect(() => populate(Array.from({ length: 8 }, () => ({ offset: 0, skip: 1 })), 7)).toThrow(/8 backends do not fit a table of 7/);
  });
});

describe('maglev table size', () => {
  it('knows its primes', () => {
    expect([2, 3, 7, 251, 16381, 65521, 131071].every(isPrime)).toBe(true);
    expect([0, 1, 4, 9, 16383, 65536, 131073, 2.5].some(isPrime)).toBe(false);
  });

  it('accepts a prime in range and says why it refuses anything else', () => {
    expect(checkTableSize(16381)).toBe(16381);
    expect(checkTableSize(251)).toBe(251);
    expect(() => checkTableSize(16383, '--maglev-table-size')).toThrow('--maglev-table-size: 16383 is not prime');
    expect(() => checkTableSize(7, '--maglev-table-size')).toThrow('--maglev-table-size: want a prime from 251 to 131071, got 7');
    expect(() => checkTableSize(262139)).toThrow(/want a prime from 251 to 131071/);
  });
});
