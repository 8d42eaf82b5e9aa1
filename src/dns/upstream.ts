// Forwards a query for a name outside the cluster zone to the --dns-upstream nameservers,
// byte for byte (the client's ID, flags and EDNS stay as sent), as CoreDNS's forward plugin
// does. UDP first; TCP when the client asked over TCP. Nameservers are tried in order, each
// with a timeout; when all fail the caller answers SERVFAIL.
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import dnsPacket, { type Answer } from 'dns-packet';
import type { Nameserver } from './resolv-conf.js';
import { FrameReader, frame } from './tcp-frames.js';

const TIMEOUT_MS = 2000;

function viaUdp(ns: Nameserver, query: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIPv6(ns.host) ? 'udp6' : 'udp4');
    const done = (err: Error | undefined, reply?: Buffer) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${ns.host}:${ns.port} in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    sock.on('error', (e) => done(e));
    sock.on('message', (msg) => {
      // Only the reply to this query (same ID); anything else on the socket is ignored.
      if (msg.length >= 2 && msg.readUInt16BE(0) === query.readUInt16BE(0)) done(undefined, msg);
    });
    sock.send(query, ns.port, ns.host);
  });
}

function viaTcp(ns: Nameserver, query: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: ns.host, port: ns.port });
    const reader = new FrameReader();
    const done = (err: Error | undefined, reply?: Buffer) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${ns.host}:${ns.port} (tcp) in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    sock.on('error', (e) => done(e));
    sock.on('data', (d) => {
      const [reply] = reader.push(d);
      if (reply) done(undefined, reply);
    });
    sock.on('end', () => done(new Error(`${ns.host}:${ns.port} closed the connection before answering`)));
    sock.write(frame(query));
  });
}

export class Upstream {
  constructor(private readonly servers: readonly Nameserver[]) {}

  /** The first upstream answer, or the last error when every nameserver failed. */
  async forward(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer> {
    let last: unknown;
    for (const ns of this.servers) {
      try {
        return transport === 'tcp' ? await viaTcp(ns, query) : await viaUdp(ns, query);
      } catch (e) {
        last = e;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  /** The answer section for one name and type (ExternalName targets outside the zone). */
  async resolve(name: string, type: 'A' | 'AAAA'): Promise<Answer[]> {
    const query = dnsPacket.encode({
      id: Math.floor(Math.random() * 65536),
      type: 'query',
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name, class: 'IN' }],
    });
    return dnsPacket.decode(await this.forward(query, 'udp')).answers ?? [];
  }
}
