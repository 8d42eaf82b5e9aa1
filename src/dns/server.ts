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
import type { Upstream } from './upstream.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** EDNS0 BADVERS: extended rcode 16, its upper 8 bits (1) in the OPT record. */
const BADVERS_HIGH = 1;

export interface ZoneReply {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

/** What the server is authoritative for, and its answers there. */
export interface Zone {
  /** True for names this server answers itself (the cluster zone, the reverse zones). */
  covers(name: string): boolean;
  lookup(q: Question): ZoneReply | Promise<ZoneReply>;
}

/** Our advertised EDNS0 UDP payload size: DNS Flag Day 2020's, fits one unfragmented packet. */
export const EDNS_UDP_SIZE = 1232;
const PLAIN_UDP_SIZE = 512;
const QUERY_OPCODE = 0;
const TCP_IDLE_MS = 10_000;

type Opt = Extract<Answer, { type: 'OPT' }>;

function header(id: number, flags: number, rcode: number): Pick<Packet, 'id' | 'type' | 'flags'> {
  return { id, type: 'response', flags: (flags & ~0xf) | (rcode & 0xf) };
}

export class DnsResponder {
  constructor(
    private readonly zone: Zone,
    private readonly upstream: Upstream | undefined,
    private readonly log: Logger,
  ) {}

  /** The reply to one message, or undefined when it must be dropped. */
  async respond(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
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
      try {
        return await this.upstream.forward(msg, transport);
      } catch (e) {
        this.log.warn({ name: q.name, err: (e as Error).message }, 'dns: upstream failed');
        return dnsPacket.encode(base(RCODE.SERVFAIL));
      }
    }
    let reply: ZoneReply;
    try {
      reply = await this.zone.lookup(q);
    } catch (e) {
      this.log.error({ name: q.name, type: q.type, err: e }, 'dns: lookup failed');
      return dnsPacket.encode(base(RCODE.SERVFAIL));
    }
    const p = base(reply.rcode, true);
    p.answers = reply.answers;
    p.authorities = reply.authorities;
    p.additionals = [...reply.additionals, ...replyOpt];
    const out = dnsPacket.encode(p);
    const limit = transport === 'tcp' ? 65535 : opt ? Math.max(PLAIN_UDP_SIZE, opt.udpPayloadSize ?? 0) : PLAIN_UDP_SIZE;
    if (out.length <= limit) return out;
    // Too big: no records at all and TC set, so the client asks again over TCP (RFC 7766).
    const tc = base(reply.rcode, true);
    tc.flags = (tc.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE;
    return dnsPacket.encode(tc);
  }
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
      this.responder.respond(msg, 'udp').then(
        (out) => {
          if (out) udp.send(out, rinfo.port, rinfo.address);
        },
        (e) => this.log.error({ err: e }, 'dns: udp reply failed'),
      );
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

  /** Length-prefixed messages (RFC 1035 4.2.2), several per connection, answered in order. */
  private serveTcp(s: Socket): void {
    this.conns.add(s);
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    s.on('error', () => s.destroy());
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        chain = chain.then(async () => {
          const out = await this.responder.respond(Buffer.from(msg), 'tcp');
          if (!out || s.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          s.write(Buffer.concat([len, out]));
        }).catch((e) => this.log.error({ err: e }, 'dns: tcp reply failed'));
      }
    });
  }

  close(): void {
    this.udp?.close();
    this.tcp?.close();
    for (const s of this.conns) s.destroy();
  }
}
