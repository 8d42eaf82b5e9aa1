// Bad input on the wire: hand-built messages sent to a real DnsServer on 127.0.0.1 over UDP.
// Each gets the answer RFC 1035/6891 give it (FORMERR, NOTIMP, BADVERS, REFUSED) or is
// dropped, and the server keeps answering afterwards.
import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterZone } from '../../src/dns/cluster-zone.js';
import { DnsObjects } from '../../src/dns/dns-objects.js';
import { DnsResponder, DnsServer, cacheKey } from '../../src/dns/server.js';

const log = pino({ level: 'silent' });
let server: DnsServer;
let port = 0;
let client: Socket;
const replies: Buffer[] = [];
const waiters: Array<() => void> = [];

/** Sends raw bytes, then a valid probe; returns every reply up to and including the probe's. */
async function send(raw: Buffer): Promise<Buffer[]> {
  const probeId = 0xbeef;
  const probe = dnsPacket.encode({ id: probeId, type: 'query', questions: [{ type: 'A', name: 'web.default.svc.cluster.local' }] });
  replies.length = 0;
  client.send(raw, port, '127.0.0.1');
  client.send(probe, port, '127.0.0.1');
  for (let i = 0; i < 100 && !replies.some((r) => r.readUInt16BE(0) === probeId); i++) {
    await new Promise<void>((r) => waiters.push(r));
  }
  const probeReply = replies.find((r) => r.readUInt16BE(0) === probeId);
  expect(probeReply, 'the server still answers after the bad message').toBeDefined();
  expect(dnsPacket.decode(probeReply!).answers?.[0]).toMatchObject({ type: 'A', data: '198.19.2.10' });
  return replies.filter((r) => r.readUInt16BE(0) !== probeId);
}

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const b = Buffer.alloc(12);
  [id, flags, qd, an, ns, ar].forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
}
const rcodeOf = (b: Buffer) => b.readUInt16BE(2) & 0xf;

const objects = new DnsObjects(true);
const webEvent = (type: 'ADDED' | 'MODIFIED', clusterIP: string) => ({
  type, kind: 'Service' as const, key: 'default/web', source: 'test',
  object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP, ports: [{ port: 80 }] } } as never,
});

beforeAll(async () => {
  objects.onEvent(webEvent('ADDED', '198.19.2.10'));
  const zone = new ClusterZone(objects, { zone: 'cluster.local', ttl: 5, pods: 'insecure' });
  zone.synced = true;
  server = new DnsServer(new DnsResponder(zone, undefined, log), log);
  port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
  client = createSocket('udp4');
  client.on('message', (m) => {
    replies.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
});

afterAll(() => {
  client?.close();
  server?.close();
});

describe('DNS server: the answer cache', () => {
  it('answers a repeated query from the cache with its own ID, and an object change ends that at once', async () => {
    const ask = async (id: number) => {
      replies.length = 0;
      client.send(dnsPacket.encode({ id, type: 'query', questions: [{ type: 'A', name: 'web.default.svc.cluster.local' }] }), port, '127.0.0.1');
      for (let i = 0; i < 100 && !replies.some((r) => r.readUInt16BE(0) === id); i++) await new Promise<void>((r) => waiters.push(r));
      const p = dnsPacket.decode(replies.find((r) => r.readUInt16BE(0) === id)!);
      return [p.id, p.answers?.map((a) => ('data' in a ? a.data : ''))];
    };
    expect(await ask(101)).toEqual([101, ['198.19.2.10']]);
    expect(await ask(102)).toEqual([102, ['198.19.2.10']]);
    objects.onEvent(webEvent('MODIFIED', '198.19.2.99'));
    expect(await ask(103)).toEqual([103, ['198.19.2.99']]);
    objects.onEvent(webEvent('MODIFIED', '198.19.2.10'));
    expect(await ask(104)).toEqual([104, ['198.19.2.10']]);
  });
});

describe('cacheKey', () => {
  const q = (id: number, options: Array<{ code: number; data: Buffer }>, udpPayloadSize = 1232) =>
    dnsPacket.encode({
      id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'web.default.svc.cluster.local' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options } as never],
    });
  it('leaves out the ID and the EDNS options (a random COOKIE), keeps the UDP size and the transport', () => {
    const a = cacheKey(q(1, [{ code: 10, data: Buffer.from('0123456789abcdef', 'hex') }]), 'udp');
    expect(a).toBeDefined();
    expect(cacheKey(q(2, [{ code: 10, data: Buffer.from('fedcba9876543210', 'hex') }]), 'udp')).toBe(a);
    expect(cacheKey(q(3, []), 'udp')).toBe(a);
    expect(cacheKey(q(4, [], 512), 'udp')).not.toBe(a);
    expect(cacheKey(q(5, []), 'tcp')).not.toBe(a);
  });
  it('declines what it cannot read plainly: a compressed question, two questions, a bad OPT length', () => {
    expect(cacheKey(Buffer.concat([header(1, 0, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), 'udp')).toBeUndefined();
    expect(cacheKey(dnsPacket.encode({ id: 1, type: 'query', questions: [{ type: 'A', name: 'a.test' }, { type: 'A', name: 'b.test' }] }), 'udp')).toBeUndefined();
    expect(cacheKey(Buffer.concat([q(1, []), Buffer.from([0])]), 'udp')).toBeUndefined();
  });
});

describe('DNS server: bad messages', () => {
  it('drops a message too short for a header (no ID to answer with), and counts it', async () => {
    const before = server.counters.dropped;
    expect(await send(Buffer.from([1, 2, 3, 4, 5]))).toEqual([]);
    expect(server.counters.dropped).toBe(before + 1);
  });

  it('drops a response (QR set): answering it could loop between two servers', async () => {
    expect(await send(dnsPacket.encode({ id: 7, type: 'response', questions: [{ type: 'A', name: 'x.cluster.local' }] }))).toEqual([]);
  });

  it('FORMERR, same ID, for a question cut short', async () => {
    const [r] = await send(Buffer.concat([header(11, 0x0100, 1), Buffer.from([3, 0x77, 0x65])]));
    expect(r!.readUInt16BE(0)).toBe(11);
    expect(rcodeOf(r!)).toBe(1);
  });

  it('FORMERR for a name over 255 octets', async () => {
    const labels = Buffer.concat(Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])));
    const [r] = await send(Buffer.concat([header(12, 0, 1), labels, Buffer.from([0, 0, 1, 0, 1])]));
    expect(rcodeOf(r!)).toBe(1);
  });

  it('FORMERR for a compression pointer that points forward (a loop)', async () => {
    const [r] = await send(Buffer.concat([header(13, 0, 1), Buffer.from([0xc0, 12 + 2, 0, 1, 0, 1])]));
    expect(rcodeOf(r!)).toBe(1);
  });

  it('FORMERR for two questions in one query', async () => {
    const q = dnsPacket.encode({ id: 14, type: 'query', questions: [{ type: 'A', name: 'a.cluster.local' }, { type: 'A', name: 'b.cluster.local' }] });
    const [r] = await send(q);
    expect(rcodeOf(r!)).toBe(1);
  });

  it('NOTIMP for opcodes other than QUERY (NOTIFY, UPDATE)', async () => {
    for (const [id, opcode] of [[15, 4], [16, 5]] as const) {
      const q = dnsPacket.encode({ id, type: 'query', questions: [{ type: 'SOA', name: 'cluster.local' }] });
      q.writeUInt16BE(opcode << 11, 2);
      const [r] = await send(q);
      expect(rcodeOf(r!)).toBe(4);
      expect((r!.readUInt16BE(2) >> 11) & 0xf).toBe(opcode);
    }
  });

  it('NOTIMP for a class other than IN', async () => {
    const [r] = await send(dnsPacket.encode({ id: 17, type: 'query', questions: [{ type: 'TXT', name: 'version.bind', class: 'CH' }] }));
    expect(rcodeOf(r!)).toBe(4);
  });

  it('BADVERS (extended rcode 16) for EDNS version 1', async () => {
    const q = dnsPacket.encode({
      id: 18, type: 'query', questions: [{ type: 'A', name: 'web.default.svc.cluster.local' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, flag_do: false, options: [] }],
    });
    const [r] = await send(q);
    const opt = dnsPacket.decode(r!).additionals?.find((a) => a.type === 'OPT') as { extendedRcode: number } | undefined;
    expect(((opt?.extendedRcode ?? 0) << 4) | rcodeOf(r!)).toBe(16);
  });

  it('REFUSED for a name outside the zone when there is no --dns-upstream', async () => {
    const [r] = await send(dnsPacket.encode({ id: 19, type: 'query', questions: [{ type: 'A', name: 'example.org' }] }));
    expect(rcodeOf(r!)).toBe(5);
  });

  it('SERVFAIL, not NXDOMAIN, for an unknown name before the source has synced', async () => {
    const zone = new ClusterZone(new DnsObjects(true), { zone: 'cluster.local', ttl: 5, pods: 'insecure' });
    const r = await zone.lookup({ type: 'A', name: 'web.default.svc.cluster.local', class: 'IN' });
    expect(r.rcode).toBe(2);
    zone.synced = true;
    expect((await zone.lookup({ type: 'A', name: 'web.default.svc.cluster.local', class: 'IN' })).rcode).toBe(3);
  });
});
