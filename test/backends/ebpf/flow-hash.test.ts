// The TS twin of bpf/lib/maglev.h's flow hash: MurmurHash3 x86_32 against its published
// reference vectors, and the 5-tuple layout. (tc-maglev.test.ts checks C = TS through the kernel.)
import { describe, expect, it } from 'vitest';
import { flowHash, murmur3 } from '../../../src/backends/ebpf/flow-hash.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('murmur3 (x86_32)', () => {
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['a', 0x9747b28c, 0x7fa09ea6],
    ['aa', 0x9747b28c, 0x5d211726],
    ['aaa', 0x9747b28c, 0x283e0130],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['abc', 0x9747b28c, 0xc84a62dd],
    ['abcd', 0x9747b28c, 0xf0478627],
    ['Hello, world!', 1234, 0xfaf6cdb3],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ] as const)('%j seed %i', (s, seed, want) => {
    expect(murmur3(bytes(s), seed)).toBe(want);
  });

  it('four zero bytes and four 0xff bytes, seed 0', () => {
    expect(murmur3(new Uint8Array(4), 0)).toBe(0x2362f9de);
    expect(murmur3(new Uint8Array(4).fill(0xff), 0)).toBe(0x76293b50);
  });
});

describe('flowHash', () => {
  const t = { saddr: '198.18.1.100', daddr: '198.19.1.175', sport: 40000, dport: 80, proto: 6 };

  it('is murmur3 of saddr, daddr, sport<<16|dport, proto as little-endian words', () => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(0xc6120164, 0); // 198.18.1.100
    b.writeUInt32LE(0xc61301af, 4); // 198.19.1.175
    b.writeUInt32LE(((40000 << 16) | 80) >>> 0, 8);
    b.writeUInt32LE(6, 12);
    expect(flowHash(t, 42)).toBe(murmur3(b, 42));
  });

  it('depends on every field and on the seed', () => {
    const h = flowHash(t, 1);
    for (const other of [{ ...t, saddr: '198.18.1.101' }, { ...t, daddr: '198.19.1.176' }, { ...t, sport: 40001 }, { ...t, dport: 81 }, { ...t, proto: 17 }])
      expect(flowHash(other, 1)).not.toBe(h);
    expect(flowHash(t, 2)).not.toBe(h);
  });
});
