// The DNS wire side of --dns-bind-address: UDP and TCP sockets, message checks, EDNS0,
// truncation, and forwarding of names outside the zone. What the records are is the
// zone's business (cluster-zone.ts); the wire format is dns-packet's.
//
// A bad message never throws out of here: too short to carry an ID, or a response, is
// dropped (answering either could start a loop); an undecodable one gets FORMERR, an
// opcode other than QUERY gets NOTIMP.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server as TcpServer, type Socket } from 'node:net';
import dnsPacket, { type Answer, type Packet, type Question } from 'dns-packet';
import type { Logger } from 'pino';
import type { DnsCounters } from '../metrics/metrics.js';
import { FrameReader, frame } from './tcp-frames.js';
import type { Upstream } from './upstream.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const RCODE_NAMES = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k])) as Record<number, string>;
/** EDNS0 BADVERS: extended rcode 16, its upper 8 bits (1) in the OPT record. */
const BADVERS_HIGH = 1;

export interface ZoneReply {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** False when the answer holds what another server said (not kept in the answer cache). */
  cacheable?: boolean;
}

/** What the server is authoritative for, and its answers there. */
export interface Zone {
  /** True for names this server answers itself (the cluster zone, the reverse zones). */
  covers(name: string): boolean;
  lookup(q: Question): ZoneReply | Promise<ZoneReply>;
  /** Changes whenever any answer could change; answers are kept only within one. */
  generation(): number;
}

/** Our advertised EDNS0 UDP payload size: DNS Flag Day 2020's, fits one unfragmented packet. */
export const EDNS_UDP_SIZE = 1232;
const PLAIN_UDP_SIZE = 512;
const QUERY_OPCODE = 0;
const TCP_IDLE_MS = 10_000;
/** Distinct queries kept per generation; past it the cache starts over. */
const CACHE_ENTRIES = 20_000;

type Opt = Extract<Answer, { type: 'OPT' }>;

function header(id: number, flags: number, rcode: number): Pick<Packet, 'id' | 'type' | 'flags'> {
  return { id, type: 'response', flags: (flags & ~0xf) | (rcode & 0xf) };
}

/**
 * Answers messages. Our own answers are kept, as encoded bytes, for as long as the objects
 * do not change (one zone generation): a repeated query costs a map lookup and a copy, not
 * a decode, a lookup and an encode. This is not a TTL cache: any object event starts it
 * over, so it never answers from an older view than an uncached lookup would.
 */
export class DnsResponder {
  private cache = new Map<string, Buffer>();
  private cacheGeneration = -1;

  constructor(
    private readonly zone: Zone,
    private readonly upstream: Upstream | undefined,
    private readonly log: Logger,
  ) {}

  /** The kept reply to this message (key: cacheKey(msg)), or undefined. */
  cached(msg: Buffer, key: string | undefined): Buffer | undefined {
    if (key === undefined || this.cacheGeneration !== this.zone.generation()) return undefined;
    const hit = this.cache.get(key);
    if (!hit) return undefined;
    const out = Buffer.allocUnsafe(hit.length);
    hit.copy(out);
    out.writeUInt16BE(msg.readUInt16BE(0), 0);
    return out;
  }

  private keep(key: string | undefined, generation: number, out: Buffer): void {
    if (key === undefined || generation !== this.zone.generation()) return; // not keyable, or the objects changed meanwhile
    if (this.cacheGeneration !== generation || this.cache.size >= CACHE_ENTRIES) {
      this.cache = new Map();
      this.cacheGeneration = generation;
    }
    this.cache.set(key, out);
  }

  /**
   * The reply to one message, or undefined when it must be dropped. Synchronous unless the
   * upstream has to be asked (forwarding, or an ExternalName target outside the zone).
   */
  respond(msg: Buffer, transport: 'udp' | 'tcp', key = cacheKey(msg, transport)): Buffer | undefined | Promise<Buffer | undefined> {
    if (msg.length < 12) return undefined;
    const id = msg.readUInt16BE(0);
    const flags = msg.readUInt16BE(2);
    if (flags & 0x8000) return undefined; // a response, not a query
    const opcode = (flags >> 11) & 0xf;
    const rd = flags & dnsPacket.RECURSION_DESIRED;
    let query: Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return dnsPacket.encode({ ...header(id, (opcode << 11) | rd, RCODE.FORMERR), questions: [] });
    }
    const questions = query.questions ?? [];
    const opt = (query.additionals ?? []).find((a): a is Opt => a.type === 'OPT');
    const replyOpt: Answer[] = opt ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [];
    const base = (rcode: number, aa = false): Packet => ({
      ...header(id, (opcode << 11) | rd | (aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0), rcode),
      questions,
      answers: [],
      authorities: [],
      additionals: [...replyOpt],
    });
    if (opcode !== QUERY_OPCODE) return dnsPacket.encode(base(RCODE.NOTIMP));
    if (questions.length !== 1) return dnsPacket.encode(base(RCODE.FORMERR));
    if (opt && (opt.ednsVersion ?? 0) > 0) {
      const p = base(RCODE.NOERROR);
      p.additionals = [{ ...(replyOpt[0] as Opt), extendedRcode: BADVERS_HIGH } as Opt];
      return dnsPacket.encode(p);
    }
    const q = questions[0]!;
    if (q.class !== 'IN' || q.type === 'AXFR' || q.type === 'IXFR') return dnsPacket.encode(base(RCODE.NOTIMP));
    if (!this.zone.covers(q.name)) {
      if (!this.upstream) return dnsPacket.encode(base(RCODE.REFUSED));
      return this.upstream.forward(msg, transport).catch((e: Error) => {
        this.log.warn({ name: q.name, err: e.message }, 'dns: upstream failed');
        return dnsPacket.encode(base(RCODE.SERVFAIL));
      });
    }
    const generation = this.zone.generation();
    const failed = (e: unknown) => {
      this.log.error({ name: q.name, type: q.type, err: e }, 'dns: lookup failed');
      return dnsPacket.encode(base(RCODE.SERVFAIL));
    };
    const finish = (reply: ZoneReply): Buffer => this.encodeReply(key, transport, generation, base(reply.rcode, true), reply, replyOpt, opt);
    try {
      const r = this.zone.lookup(q);
      return r instanceof Promise ? r.then(finish, failed) : finish(r);
    } catch (e) {
      return failed(e);
    }
  }

  /** Our answer, encoded; emptied with TC when it does not fit the client's UDP size. */
  private encodeReply(key: string | undefined, transport: 'udp' | 'tcp', generation: number, p: Packet, reply: ZoneReply, replyOpt: Answer[], opt: Opt | undefined): Buffer {
    p.answers = reply.answers;
    p.authorities = reply.authorities;
    p.additionals = [...reply.additionals, ...replyOpt];
    let out = dnsPacket.encode(p);
    const limit = transport === 'tcp' ? 65535 : opt ? Math.max(PLAIN_UDP_SIZE, opt.udpPayloadSize ?? 0) : PLAIN_UDP_SIZE;
    if (out.length > limit) {
      // Too big: no records at all and TC set, so the client asks again over TCP (RFC 7766).
      out = dnsPacket.encode({ ...p, flags: (p.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: replyOpt });
    }
    if (reply.cacheable !== false) this.keep(key, generation, out);
    return out;
  }
}

/**
 * What decides our answer to a query: the transport, the header without its ID (flags,
 * counts), the question, and the EDNS0 UDP size, version and flags. EDNS options are left
 * out: we answer none of them, and a client's random COOKIE option (dig, many resolvers)
 * would otherwise make every query distinct. Undefined (not cached) for anything but one
 * question and at most one well-formed OPT record.
 */
export function cacheKey(msg: Buffer, transport: 'udp' | 'tcp'): string | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1 || msg.readUInt16BE(6) !== 0 || msg.readUInt16BE(8) !== 0) return undefined;
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    if (msg[i]! > 63) return undefined; // a compression pointer or bad label: let the decoder judge
    i += msg[i]! + 1;
  }
  const qEnd = i + 5; // the root label, QTYPE, QCLASS
  if (qEnd > msg.length) return undefined;
  const arcount = msg.readUInt16BE(10);
  if (arcount === 0) return transport + msg.toString('latin1', 2, qEnd);
  // OPT: root name (1), TYPE 41 (2), CLASS = UDP size (2), TTL = ext-rcode, version, flags (4), RDLENGTH (2).
  if (arcount !== 1 || qEnd + 11 > msg.length || msg[qEnd] !== 0 || msg.readUInt16BE(qEnd + 1) !== 41) return undefined;
  if (qEnd + 11 + msg.readUInt16BE(qEnd + 9) !== msg.length) return undefined;
  return transport + msg.toString('latin1', 2, qEnd) + msg.toString('latin1', qEnd + 3, qEnd + 9);
}

export interface DnsServerAddress {
  host: string;
  port: number;
}

/** UDP and TCP listeners on one address (port 0: the UDP port's number is reused for TCP). */
export class DnsServer {
  private udp?: UdpSocket;
  private tcp?: TcpServer;
  private readonly conns = new Set<Socket>();
  /** Totals since start (metrics). */
  readonly counters: DnsCounters = { responses: {}, cacheHits: {}, dropped: 0 };

  private count(proto: 'udp' | 'tcp', out: Buffer | undefined, hit: boolean): void {
    if (!out) {
      this.counters.dropped++;
      return;
    }
    const k = `${proto}|${RCODE_NAMES[out.readUInt16BE(2) & 0xf] ?? String(out.readUInt16BE(2) & 0xf)}`;
    this.counters.responses[k] = (this.counters.responses[k] ?? 0) + 1;
    if (hit) this.counters.cacheHits[proto] = (this.counters.cacheHits[proto] ?? 0) + 1;
  }

  /** The reply to one message, from the answer cache or worked out, counted; undefined: drop it. */
  private reply(msg: Buffer, proto: 'udp' | 'tcp'): Buffer | undefined | Promise<Buffer | undefined> {
    const key = cacheKey(msg, proto);
    const hit = this.responder.cached(msg, key);
    if (hit) {
      this.count(proto, hit, true);
      return hit;
    }
    const out = this.responder.respond(msg, proto, key);
    if (!(out instanceof Promise)) {
      this.count(proto, out, false);
      return out;
    }
    return out.then((o) => {
      this.count(proto, o, false);
      return o;
    });
  }

  constructor(
    private readonly responder: DnsResponder,
    private readonly log: Logger,
  ) {}

  async listen(bind: DnsServerAddress): Promise<DnsServerAddress> {
    const udp = createSocket({ type: isIPv6(bind.host) ? 'udp6' : 'udp4', reuseAddr: false });
    this.udp = udp;
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(bind.port, bind.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (e) => this.log.error({ err: e }, 'dns: udp socket error'));
    udp.on('message', (msg, rinfo) => {
      const send = (out: Buffer | undefined) => {
        if (out) udp.send(out, rinfo.port, rinfo.address);
      };
      const out = this.reply(msg, 'udp');
      if (out instanceof Promise) out.then(send, (e) => this.log.error({ err: e }, 'dns: udp reply failed'));
      else send(out); // the common case stays synchronous: no promise per query
    });
    const port = udp.address().port;
    const tcp = createServer((s) => this.serveTcp(s));
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, bind.host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    tcp.on('error', (e) => this.log.error({ err: e }, 'dns: tcp listener error'));
    return { host: bind.host, port };
  }

  /** Several length-prefixed messages per connection, answered in order. */
  private serveTcp(s: Socket): void {
    this.conns.add(s);
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    s.on('error', () => s.destroy());
    const reader = new FrameReader();
    let chain = Promise.resolve();
    s.on('data', (d) => {
      for (const msg of reader.push(d)) {
        chain = chain
          .then(async () => {
            const out = await this.reply(msg, 'tcp');
            if (out && !s.destroyed) s.write(frame(out));
          })
          .catch((e) => this.log.error({ err: e }, 'dns: tcp reply failed'));
      }
    });
  }

  close(): void {
    this.udp?.close();
    this.tcp?.close();
    for (const s of this.conns) s.destroy();
  }
}
