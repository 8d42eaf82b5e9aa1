// Packet fixtures for BPF_PROG_TEST_RUN: build Ethernet/IPv4/TCP|UDP frames with correct
// checksums, parse what the program returns, and recompute every checksum independently.
import { bytesToIp4, ip4ToBytes } from '../../../src/backends/ebpf/abi.js';

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export const CLIENT_MAC = '02:00:00:00:00:01';
export const NODE_MAC = '02:00:00:00:00:02';

export interface PacketSpec {
  saddr: string;
  daddr: string;
  proto: number;
  sport: number;
  dport: number;
  /** TCP flags (default SYN). */
  flags?: number;
  seq?: number;
  ack?: number;
  payload?: Buffer;
  /** UDP: send checksum 0 ("no checksum"). */
  udpNoChecksum?: boolean;
  srcMac?: string;
  dstMac?: string;
  ttl?: number;
}

function mac(s: string): Buffer {
  return Buffer.from(s.split(':').map((x) => parseInt(x, 16)));
}

/** RFC 1071 one's complement sum over buffers, folded and complemented. */
export function inetChecksum(...bufs: Buffer[]): number {
  let b = Buffer.concat(bufs);
  if (b.length % 2) b = Buffer.concat([b, Buffer.alloc(1)]);
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudoHeader(saddr: Buffer, daddr: Buffer, proto: number, len: number): Buffer {
  const ph = Buffer.alloc(12);
  saddr.copy(ph, 0);
  daddr.copy(ph, 4);
  ph[9] = proto;
  ph.writeUInt16BE(len, 10);
  return ph;
}

/** An Ethernet + IPv4 header (no options) in front of l4len bytes, checksum from scratch. */
function ethIp(h: { saddr: string; daddr: string; proto: number; id: number; df: boolean; ttl?: number; srcMac?: string; dstMac?: string }, l4len: number): Buffer {
  const buf = Buffer.alloc(14 + 20 + l4len);
  mac(h.dstMac ?? NODE_MAC).copy(buf, 0);
  mac(h.srcMac ?? CLIENT_MAC).copy(buf, 6);
  buf.writeUInt16BE(0x0800, 12);
  const ip = 14;
  buf[ip] = 0x45;
  buf.writeUInt16BE(20 + l4len, ip + 2);
  buf.writeUInt16BE(h.id, ip + 4);
  buf.writeUInt16BE(h.df ? 0x4000 : 0, ip + 6);
  buf[ip + 8] = h.ttl ?? 64;
  buf[ip + 9] = h.proto;
  ip4ToBytes(h.saddr, buf, ip + 12);
  ip4ToBytes(h.daddr, buf, ip + 16);
  buf.writeUInt16BE(inetChecksum(buf.subarray(ip, ip + 20)), ip + 10);
  return buf;
}

export function buildPacket(s: PacketSpec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  const l4len = (s.proto === TCP ? 20 : 8) + payload.length;
  const buf = ethIp({ ...s, id: 0x1234, df: true }, l4len);
  const ip = 14;
  const l4 = ip + 20;
  buf.writeUInt16BE(s.sport, l4);
  buf.writeUInt16BE(s.dport, l4 + 2);
  if (s.proto === TCP) {
    buf.writeUInt32BE(s.seq ?? 1000, l4 + 4);
    buf.writeUInt32BE(s.ack ?? 0, l4 + 8);
    buf[l4 + 12] = 5 << 4;
    buf[l4 + 13] = s.flags ?? TCP_SYN;
    buf.writeUInt16BE(65535, l4 + 14);
    payload.copy(buf, l4 + 20);
  } else {
    buf.writeUInt16BE(l4len, l4 + 4);
    payload.copy(buf, l4 + 8);
  }
  const csumOff = s.proto === TCP ? l4 + 16 : l4 + 6;
  if (!(s.proto === UDP && s.udpNoChecksum)) {
    let c = inetChecksum(pseudoHeader(buf.subarray(ip + 12, ip + 16), buf.subarray(ip + 16, ip + 20), s.proto, l4len), buf.subarray(l4));
    if (s.proto === UDP && c === 0) c = 0xffff;
    buf.writeUInt16BE(c, csumOff);
  }
  return buf;
}

/** The IP fragments of the datagram `s` (built whole, its L4 checksum over all of it), each
 * with at most `payloadPerFragment` bytes after its IP header (a multiple of 8) and IP id
 * `id`. Header checksums computed from scratch. */
export function buildFragments(s: PacketSpec, payloadPerFragment: number, id = 0x2222): Buffer[] {
  const whole = buildPacket(s);
  const ip = 14;
  const body = whole.subarray(ip + 20);
  const out: Buffer[] = [];
  for (let off = 0; off < body.length; off += payloadPerFragment) {
    const part = body.subarray(off, off + payloadPerFragment);
    const f = Buffer.alloc(ip + 20 + part.length);
    whole.copy(f, 0, 0, ip + 20);
    part.copy(f, ip + 20);
    f.writeUInt16BE(20 + part.length, ip + 2);
    f.writeUInt16BE(id, ip + 4);
    const more = off + payloadPerFragment < body.length;
    f.writeUInt16BE((more ? 0x2000 : 0) | (off / 8), ip + 6);
    f.writeUInt16BE(0, ip + 10);
    f.writeUInt16BE(inetChecksum(f.subarray(ip, ip + 20)), ip + 10);
    out.push(f);
  }
  return out;
}

/** An ICMP error (RFC 792) from saddr to daddr: type, code, `rest` (the next-hop MTU of a
 * "fragmentation needed"), quoting `quoted` (an IP packet's header and at least 8 bytes of
 * what follows). Checksums computed from scratch. */
export function buildIcmpError(s: { saddr: string; daddr: string; type: number; code: number; rest?: number; quoted: Buffer; srcMac?: string; dstMac?: string }): Buffer {
  const buf = ethIp({ ...s, proto: ICMP, id: 0x4321, df: false }, 8 + s.quoted.length);
  const l4 = 14 + 20;
  buf[l4] = s.type;
  buf[l4 + 1] = s.code;
  buf.writeUInt32BE(s.rest ?? 0, l4 + 4);
  s.quoted.copy(buf, l4 + 8);
  buf.writeUInt16BE(inetChecksum(buf.subarray(l4)), l4 + 2);
  return buf;
}

export interface Parsed {
  dstMac: string;
  srcMac: string;
  saddr: string;
  daddr: string;
  proto: number;
  totLen: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  l4Checksum: number;
  icmpType?: number;
  icmpCode?: number;
  /** ICMP errors: the embedded original packet's IP+8 bytes. */
  inner?: Buffer;
}

function macStr(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function parsePacket(buf: Buffer): Parsed {
  const ip = 14;
  const ihl = (buf[ip]! & 0x0f) * 4;
  const proto = buf[ip + 9]!;
  const l4 = ip + ihl;
  const p: Parsed = {
    dstMac: macStr(buf.subarray(0, 6)),
    srcMac: macStr(buf.subarray(6, 12)),
    saddr: bytesToIp4(buf, ip + 12),
    daddr: bytesToIp4(buf, ip + 16),
    proto,
    totLen: buf.readUInt16BE(ip + 2),
    sport: 0, dport: 0, seq: 0, ack: 0, flags: 0, l4Checksum: 0,
  };
  if (proto === TCP || proto === UDP) {
    p.sport = buf.readUInt16BE(l4);
    p.dport = buf.readUInt16BE(l4 + 2);
  }
  if (proto === TCP) {
    p.seq = buf.readUInt32BE(l4 + 4);
    p.ack = buf.readUInt32BE(l4 + 8);
    p.flags = buf[l4 + 13]!;
    p.l4Checksum = buf.readUInt16BE(l4 + 16);
  } else if (proto === UDP) {
    p.l4Checksum = buf.readUInt16BE(l4 + 6);
  } else if (proto === ICMP) {
    p.icmpType = buf[l4];
    p.icmpCode = buf[l4 + 1];
    p.l4Checksum = buf.readUInt16BE(l4 + 2);
    p.inner = buf.subarray(l4 + 8, ip + p.totLen);
  }
  return p;
}

/** Recomputes the IPv4 header and L4 checksums (UDP 0 = none counts as valid). */
export function checksumsValid(buf: Buffer): { ip: boolean; l4: boolean } {
  const ip = 14;
  const ihl = (buf[ip]! & 0x0f) * 4;
  const totLen = buf.readUInt16BE(ip + 2);
  const proto = buf[ip + 9]!;
  const ipOk = inetChecksum(buf.subarray(ip, ip + ihl)) === 0;
  const l4 = buf.subarray(ip + ihl, ip + totLen);
  let l4Ok: boolean;
  if (proto === ICMP) {
    l4Ok = inetChecksum(l4) === 0;
  } else {
    if (proto === UDP && l4.readUInt16BE(6) === 0) return { ip: ipOk, l4: true };
    l4Ok = inetChecksum(pseudoHeader(buf.subarray(ip + 12, ip + 16), buf.subarray(ip + 16, ip + 20), proto, l4.length), l4) === 0;
  }
  return { ip: ipOk, l4: l4Ok };
}
