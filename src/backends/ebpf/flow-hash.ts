// The 5-tuple hash tc_lb uses to index a maglev table (bpf/lib/maglev.h), in TypeScript: for
// tests and for tools that must predict the backend a flow gets.
// MurmurHash3 x86_32 (Austin Appleby, public domain) of four 32-bit little-endian blocks:
// saddr, daddr (as numbers, a.b.c.d = a·2^24 + …), sport << 16 | dport, proto. An IPv6 flow
// (maglev_flow_hash6) has ten: each address as four big-endian words, then ports and proto.
import { ip6ToBytes } from './abi.js';

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl32(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl32(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of any bytes (checked against the reference vectors in the tests). */
export function murmur3(data: Uint8Array, seed: number): number {
  let h = seed | 0;
  const blocks = data.length >>> 2;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < blocks; i++) h = mix(h, view.getUint32(i * 4, true));
  let k = 0;
  const tail = blocks * 4;
  switch (data.length & 3) {
    case 3: k ^= data[tail + 2]! << 16; // falls through
    case 2: k ^= data[tail + 1]! << 8; // falls through
    case 1:
      k ^= data[tail]!;
      k = Math.imul(k, 0xcc9e2d51);
      k = rotl32(k, 15);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  return fmix(h ^ data.length);
}

function ip4Number(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export interface FiveTuple {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
}

/** maglev_flow_hash() (maglev_flow_hash6() for IPv6 addresses) of bpf/lib/maglev.h. */
export function flowHash(t: FiveTuple, seed: number): number {
  if (t.saddr.includes(':')) {
    const b = Buffer.alloc(40);
    const a = Buffer.alloc(32);
    ip6ToBytes(t.saddr, a, 0);
    ip6ToBytes(t.daddr, a, 16);
    for (let i = 0; i < 8; i++) b.writeUInt32LE(a.readUInt32BE(4 * i), 4 * i);
    b.writeUInt32LE(((t.sport << 16) | t.dport) >>> 0, 32);
    b.writeUInt32LE(t.proto, 36);
    return murmur3(b, seed);
  }
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, ip4Number(t.saddr), true);
  v.setUint32(4, ip4Number(t.daddr), true);
  v.setUint32(8, ((t.sport << 16) | t.dport) >>> 0, true);
  v.setUint32(12, t.proto, true);
  return murmur3(b, seed);
}
