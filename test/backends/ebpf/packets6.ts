// IPv6 frames for BPF_PROG_TEST_RUN: Ethernet + IPv6 (RFC 8200) + TCP/UDP/ICMPv6, every
// checksum computed here from scratch over the RFC 8200 8.1 pseudo header (source, destination,
// 32-bit upper-layer length, three zero bytes, next header), never by the code under test.
import { ip6ToBytes, bytesToIp6 } from '../../../src/backends/ebpf/abi.js';
import { CLIENT_MAC, NODE_MAC, TCP, UDP, inetChecksum } from './packets.js';

export const ICMPV6 = 58;
export const NEXTHDR_HOP = 0;

export interface Packet6Spec {
  saddr: string;
  daddr: string;
  proto: number;
  sport: number;
  dport: number;
  flags?: number;
  seq?: number;
  ack?: number;
  /** TCP window (default 65535). */
  window?: number;
  payload?: Buffer;
  srcMac?: string;
  dstMac?: string;
  hopLimit?: number;
  /** Put a hop-by-hop options header (PadN only) between the IPv6 and the L4 header. */
  hopByHop?: boolean;
}

function mac(s: string): Buffer {
  return Buffer.from(s.split(':').map((x) => parseInt(x, 16)));
}

function addr(ip: string): Buffer {
  const b = Buffer.alloc(16);
  ip6ToBytes(ip, b, 0);
  return b;
}

/** RFC 8200 8.1. */
export function pseudoHeader6(saddr: Buffer, daddr: Buffer, nextHeader: number, len: number): Buffer {
  const ph = Buffer.alloc(40);
  saddr.copy(ph, 0);
  daddr.copy(ph, 16);
  ph.writeUInt32BE(len, 32);
  ph[39] = nextHeader;
  return ph;
}

/** Ethernet + IPv6 header around `body` (the L4 message, checksum already in place). */
function frame(h: { saddr: string; daddr: string; nextHeader: number; hopLimit?: number; srcMac?: string; dstMac?: string }, body: Buffer): Buffer {
  const eth = Buffer.alloc(14);
  mac(h.dstMac ?? NODE_MAC).copy(eth, 0);
  mac(h.srcMac ?? CLIENT_MAC).copy(eth, 6);
  eth.writeUInt16BE(0x86dd, 12);
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0); // version 6, traffic class 0, flow label 0
  ip.writeUInt16BE(body.length, 4);
  ip[6] = h.nextHeader;
  ip[7] = h.hopLimit ?? 64;
  addr(h.saddr).copy(ip, 8);
  addr(h.daddr).copy(ip, 24);
  return Buffer.concat([eth, ip, body]);
}

/** The L4 segment of `s` with its checksum over the pseudo header. */
function l4(s: Packet6Spec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  const h = Buffer.alloc(s.proto === TCP ? 20 : 8);
  h.writeUInt16BE(s.sport, 0);
  h.writeUInt16BE(s.dport, 2);
  if (s.proto === TCP) {
    h.writeUInt32BE(s.seq ?? 1000, 4);
    h.writeUInt32BE(s.ack ?? 0, 8);
    h[12] = 5 << 4;
    h[13] = s.flags ?? 0x02;
    h.writeUInt16BE(s.window ?? 65535, 14);
  } else {
    h.writeUInt16BE(8 + payload.length, 4);
  }
  const seg = Buffer.concat([h, payload]);
  let c = inetChecksum(pseudoHeader6(addr(s.saddr), addr(s.daddr), s.proto, seg.length), seg);
  if (s.proto === UDP && c === 0) c = 0xffff; // RFC 8200 8.1: UDP over IPv6 never sends 0
  seg.writeUInt16BE(c, s.proto === TCP ? 16 : 6);
  return seg;
}

export function buildPacket6(s: Packet6Spec): Buffer {
  const seg = l4(s);
  if (!s.hopByHop) return frame({ ...s, nextHeader: s.proto }, seg);
  // Hop-by-hop: next header, length 0 (8 bytes), PadN of 4 bytes of padding.
  const hbh = Buffer.from([s.proto, 0, 1, 4, 0, 0, 0, 0]);
  return frame({ ...s, nextHeader: NEXTHDR_HOP }, Buffer.concat([hbh, seg]));
}

/** An ICMPv6 message (type, code, 4 bytes `rest`, then `body`) with its pseudo-header checksum. */
export function buildIcmp6(s: { saddr: string; daddr: string; type: number; code: number; rest?: number; body: Buffer; srcMac?: string; dstMac?: string; hopLimit?: number }): Buffer {
  const m = Buffer.alloc(8 + s.body.length);
  m[0] = s.type;
  m[1] = s.code;
  m.writeUInt32BE(s.rest ?? 0, 4);
  s.body.copy(m, 8);
  m.writeUInt16BE(inetChecksum(pseudoHeader6(addr(s.saddr), addr(s.daddr), ICMPV6, m.length), m), 2);
  return frame({ ...s, nextHeader: ICMPV6 }, m);
}

export interface Parsed6 {
  dstMac: string; srcMac: string; saddr: string; daddr: string; nextHeader: number; payloadLen: number; hopLimit: number;
  sport: number; dport: number; seq: number; ack: number; flags: number;
}

export function parsePacket6(buf: Buffer): Parsed6 {
  const m = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
  const p: Parsed6 = {
    dstMac: m(buf.subarray(0, 6)), srcMac: m(buf.subarray(6, 12)),
    saddr: bytesToIp6(buf, 22), daddr: bytesToIp6(buf, 38), nextHeader: buf[20]!, payloadLen: buf.readUInt16BE(18), hopLimit: buf[21]!,
    sport: 0, dport: 0, seq: 0, ack: 0, flags: 0,
  };
  if (p.nextHeader === TCP || p.nextHeader === UDP) {
    p.sport = buf.readUInt16BE(54);
    p.dport = buf.readUInt16BE(56);
  }
  if (p.nextHeader === TCP) {
    p.seq = buf.readUInt32BE(58);
    p.ack = buf.readUInt32BE(62);
    p.flags = buf[67]!;
  }
  return p;
}

/** Whether the L4 (TCP, UDP or ICMPv6) checksum of a frame without extension headers verifies. */
export function checksum6Valid(buf: Buffer): boolean {
  const nh = buf[20]!;
  const body = buf.subarray(54, 54 + buf.readUInt16BE(18));
  if (nh === UDP && body.readUInt16BE(6) === 0) return false; // mandatory over IPv6
  return inetChecksum(pseudoHeader6(buf.subarray(22, 38), buf.subarray(38, 54), nh, body.length), body) === 0;
}
