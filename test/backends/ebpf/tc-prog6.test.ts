// tc_lb's IPv6 path through BPF_PROG_TEST_RUN: hand-built IPv6 frames + seeded v6 maps →
// verdict and the exact frame that comes out, every expected frame built from scratch in
// packets6.ts (its checksums over the RFC 8200 pseudo header, checked below against known vectors).
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { flowHash, type FiveTuple } from '../../../src/backends/ebpf/flow-hash.js';
import { libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { Dataplane } from '../../../src/backends/ebpf/loader.js';
import { MaglevMaps } from '../../../src/backends/ebpf/maglev-maps.js';
import { maglevEntry } from '../../../src/backends/ebpf/state.js';
import { readDatapathStats } from '../../../src/backends/ebpf/stats.js';
import { describeKernel } from '../../kernel-required.js';
import { seedService, useTestDataplane, type SeedService } from './fixtures.js';
import { CLIENT_MAC, NODE_MAC, TCP, TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN, UDP, inetChecksum } from './packets.js';
import { ICMPV6, buildIcmp6, buildPacket6, checksum6Valid, parsePacket6, pseudoHeader6, type Packet6Spec } from './packets6.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

const VIP = '2001:db8:19::b';
const CLIENT = '2001:db8:18:1::64';
const B1 = '2001:db8:18:1::b';
const B2 = '2001:db8:18:1::c';
const B3 = '2001:db8:18:1::d';
const REMOTE_POD = '2001:db8:18:2::b';
const NODE_IP = '2001:db8:19:200::1';
const EXT = '2001:db8:19:200::99';
const EXTERNAL_IP = '2001:db8:19:250::1';
const HAIRPIN = '2001:db8:19:ffff::1';
const SNAT_PORT = 61000;

describe('IPv6 checksum reference (what the expected frames are built with)', () => {
  it('RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
    expect(inetChecksum(Buffer.from('0001f203f4f5f6f7', 'hex'))).toBe(~0xddf2 & 0xffff);
  });
  it('a published IPv6 UDP datagram (2100:0:0:1:abcd:0:0:1 → fd00::160, 9874 → 9874, "12345678") has checksum 0x7ed5', () => {
    const udp = Buffer.from('26922692000c000012345678', 'hex');
    const ph = pseudoHeader6(Buffer.from('2100000000000001abcd000000000001', 'hex'), Buffer.from('fd000000000000000000000000000160', 'hex'), UDP, udp.length);
    expect(inetChecksum(ph, udp)).toBe(0x7ed5);
    const built = buildPacket6({ saddr: '2100:0:0:1:abcd:0:0:1', daddr: 'fd00::160', proto: UDP, sport: 0x2692, dport: 0x2692, payload: Buffer.from('12345678', 'hex') });
    expect(built.readUInt16BE(14 + 40 + 6)).toBe(0x7ed5);
  });
});

describeKernel('tc_lb IPv6 path (BPF_PROG_TEST_RUN)', () => {
  let dp: Dataplane;
  useTestDataplane((d) => (dp = d));

  async function run(spec: Packet6Spec | Buffer) {
    const input = Buffer.isBuffer(spec) ? spec : buildPacket6(spec);
    const r = await libbpf.testRun(dp.tc.fd, input);
    return { retval: r.retval, out: r.dataOut, p: parsePacket6(r.dataOut), input };
  }

  const config = (c: { hairpin?: string; snat?: string } = {}) => {
    // A one-port SNAT range (lb_config's, shared by both families) makes the port known in advance.
    dp.maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: SNAT_PORT, snatPortMax: SNAT_PORT, nodeAddr: '0.0.0.0' });
    dp.maps.config6.update({ id: 0 }, { hairpinAddr: c.hairpin ?? '::', snatAddr: c.snat ?? '::', nodeAddr: NODE_IP });
  };

  interface Step { in: Packet6Spec; verdict: number; out: Packet6Spec | 'unchanged' }
  interface Fixture { name: string; services: SeedService[]; hairpin?: string; snat?: string; steps: Step[] }
  const tcpSvc = (backends: string[]): SeedService => ({ vip: VIP, port: 80, proto: TCP, svcId: 7, backends: backends.map((ip, i) => ({ id: i + 1, ip, port: 9376 })) });
  const c2v: Packet6Spec = { saddr: CLIENT, daddr: VIP, proto: TCP, sport: 40000, dport: 80, flags: TCP_SYN, seq: 5000 };
  const nodePortSvc = (b: SeedService['backends'], flags = 0): SeedService =>
    ({ vip: NODE_IP, port: 30080, proto: TCP, svcId: 11, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | flags, backends: b });
  const ext2np: Packet6Spec = { saddr: EXT, daddr: NODE_IP, proto: TCP, sport: 50000, dport: 30080, flags: TCP_SYN, seq: 5000 };
  const fixtures: Fixture[] = [
    {
      name: 'traffic that is not for a frontend passes unchanged',
      services: [tcpSvc([B1])],
      steps: [
        { in: { ...c2v, daddr: B2 }, verdict: TC_ACT_OK, out: 'unchanged' },
        { in: { ...c2v, dport: 81 }, verdict: TC_ACT_OK, out: 'unchanged' },
        { in: { ...c2v, proto: UDP }, verdict: TC_ACT_OK, out: 'unchanged' },
      ],
    },
    {
      name: 'TCP: SYN DNATed to the backend, SYN-ACK reverse-NATed, data follows the flow',
      services: [tcpSvc([B1])],
      steps: [
        { in: c2v, verdict: TC_ACT_OK, out: { ...c2v, daddr: B1, dport: 9376 } },
        {
          in: { saddr: B1, daddr: CLIENT, proto: TCP, sport: 9376, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 5001, srcMac: NODE_MAC, dstMac: CLIENT_MAC },
          verdict: TC_ACT_OK,
          out: { saddr: VIP, daddr: CLIENT, proto: TCP, sport: 80, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 5001, srcMac: NODE_MAC, dstMac: CLIENT_MAC },
        },
        {
          in: { ...c2v, flags: TCP_ACK | TCP_PSH, seq: 5001, ack: 2, payload: Buffer.from('GET / HTTP/1.1\r\n\r\n') },
          verdict: TC_ACT_OK,
          out: { ...c2v, daddr: B1, dport: 9376, flags: TCP_ACK | TCP_PSH, seq: 5001, ack: 2, payload: Buffer.from('GET / HTTP/1.1\r\n\r\n') },
        },
      ],
    },
    {
      name: 'UDP: DNAT and reverse NAT with the (mandatory) checksum kept right',
      services: [{ vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [{ id: 100, ip: B3, port: 5353 }] }],
      steps: [
        { in: { saddr: CLIENT, daddr: VIP, proto: UDP, sport: 1111, dport: 53, payload: Buffer.from('query') }, verdict: TC_ACT_OK, out: { saddr: CLIENT, daddr: B3, proto: UDP, sport: 1111, dport: 5353, payload: Buffer.from('query') } },
        { in: { saddr: B3, daddr: CLIENT, proto: UDP, sport: 5353, dport: 1111, payload: Buffer.from('answer') }, verdict: TC_ACT_OK, out: { saddr: VIP, daddr: CLIENT, proto: UDP, sport: 53, dport: 1111, payload: Buffer.from('answer') } },
      ],
    },
    {
      name: 'hairpin: source SNATed to lb6_config.hairpin_addr and an allocated port, undone on the reply',
      services: [tcpSvc([B1])],
      hairpin: HAIRPIN,
      steps: [
        { in: { ...c2v, saddr: B1 }, verdict: TC_ACT_OK, out: { ...c2v, saddr: HAIRPIN, sport: SNAT_PORT, daddr: B1, dport: 9376 } },
        {
          in: { saddr: B1, daddr: HAIRPIN, proto: TCP, sport: 9376, dport: SNAT_PORT, flags: TCP_SYN | TCP_ACK, seq: 9, ack: 5001 },
          verdict: TC_ACT_OK,
          out: { saddr: VIP, daddr: B1, proto: TCP, sport: 80, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 9, ack: 5001 },
        },
      ],
    },
    {
      name: 'NodePort on the node\'s IPv6 address to an endpoint on another node: SNAT to that address, undone on the reply',
      services: [nodePortSvc([{ id: 21, ip: REMOTE_POD, port: 9376, flags: abi.BE_F_ACTIVE_EXT | abi.BE_F_REMOTE }])],
      steps: [
        { in: ext2np, verdict: TC_ACT_OK, out: { ...ext2np, saddr: NODE_IP, sport: SNAT_PORT, daddr: REMOTE_POD, dport: 9376 } },
        {
          in: { saddr: REMOTE_POD, daddr: NODE_IP, proto: TCP, sport: 9376, dport: SNAT_PORT, flags: TCP_SYN | TCP_ACK, seq: 3, ack: 5001 },
          verdict: TC_ACT_OK,
          out: { saddr: NODE_IP, daddr: EXT, proto: TCP, sport: 30080, dport: 50000, flags: TCP_SYN | TCP_ACK, seq: 3, ack: 5001 },
        },
      ],
    },
    {
      name: 'NodePort: a local endpoint keeps the client address (eTP Local); under eTP Cluster it is SNATed too',
      services: [nodePortSvc([{ id: 22, ip: B1, port: 9376 }]), { ...nodePortSvc([{ id: 23, ip: B2, port: 9376 }], abi.SVC_F_SNAT_ALL), port: 30081, svcId: 12 }],
      steps: [
        { in: ext2np, verdict: TC_ACT_OK, out: { ...ext2np, daddr: B1, dport: 9376 } },
        { in: { ...ext2np, dport: 30081 }, verdict: TC_ACT_OK, out: { ...ext2np, saddr: NODE_IP, sport: SNAT_PORT, daddr: B2, dport: 9376 } },
      ],
    },
    {
      name: 'external IP to an endpoint on another node: SNAT to lb6_config.snat_addr',
      services: [{ vip: EXTERNAL_IP, port: 80, proto: TCP, svcId: 13, flags: abi.SVC_F_EXTERNAL, backends: [{ id: 24, ip: REMOTE_POD, port: 9376, flags: abi.BE_F_ACTIVE_EXT | abi.BE_F_REMOTE }] }],
      snat: NODE_IP,
      steps: [
        { in: { ...ext2np, daddr: EXTERNAL_IP, dport: 80 }, verdict: TC_ACT_OK, out: { ...ext2np, saddr: NODE_IP, sport: SNAT_PORT, daddr: REMOTE_POD, dport: 9376 } },
        {
          in: { saddr: REMOTE_POD, daddr: NODE_IP, proto: TCP, sport: 9376, dport: SNAT_PORT, flags: TCP_ACK, seq: 3, ack: 5001 },
          verdict: TC_ACT_OK,
          out: { saddr: EXTERNAL_IP, daddr: EXT, proto: TCP, sport: 80, dport: 50000, flags: TCP_ACK, seq: 3, ack: 5001 },
        },
      ],
    },
    {
      name: 'a Local policy with no endpoint on this node drops instead of rejecting',
      services: [nodePortSvc([], abi.SVC_F_DROP_EMPTY)],
      steps: [{ in: ext2np, verdict: TC_ACT_SHOT, out: 'unchanged' }],
    },
  ];

  for (const f of fixtures) {
    it(`fixture: ${f.name}`, async () => {
      for (const s of f.services) seedService(dp.maps, s);
      config({ hairpin: f.hairpin, snat: f.snat });
      for (const [i, step] of f.steps.entries()) {
        const r = await run(step.in);
        expect(r.retval, `step ${i} verdict`).toBe(step.verdict);
        const want = step.out === 'unchanged' ? r.input : buildPacket6(step.out);
        expect(r.out.toString('hex'), `step ${i} frame`).toBe(want.toString('hex'));
        expect(checksum6Valid(r.out), `step ${i} checksum`).toBe(true);
      }
    });
  }

  it('NDP and other ICMPv6 to a frontend pass untouched; a packet with an extension header passes, counted', async () => {
    seedService(dp.maps, tcpSvc([B1]));
    config();
    // Neighbour solicitation for the VIP (RFC 4861 4.3): type 135, target = VIP.
    const target = Buffer.alloc(20);
    abi.ip6ToBytes(VIP, target, 4);
    const ns = buildIcmp6({ saddr: CLIENT, daddr: 'ff02::1:ff00:b', type: 135, code: 0, body: target.subarray(4), hopLimit: 255 });
    const r = await run(ns);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(r.out.equals(ns)).toBe(true);
    const before = readDatapathStats(dp.maps.statsFd).packets.ipv6_extension_header!;
    const hbh = await run({ ...c2v, hopByHop: true });
    expect(hbh.retval).toBe(TC_ACT_OK);
    expect(hbh.out.equals(hbh.input)).toBe(true);
    expect(readDatapathStats(dp.maps.statsFd).packets.ipv6_extension_header).toBe(before + 1);
    expect(await dp.maps.conntrack6.dump()).toEqual([]);
  });

  it('no endpoints: a SYN gets a TCP RST, a datagram an ICMPv6 port unreachable, both sent back out (exact frames)', async () => {
    seedService(dp.maps, tcpSvc([]));
    seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [] });
    config();
    const rst = await run(c2v);
    expect(rst.retval).toBe(TC_ACT_REDIRECT);
    // RFC 793: a SYN without ACK is answered seq 0, ACK of seq + 1.
    const wantRst = buildPacket6({ saddr: VIP, daddr: CLIENT, proto: TCP, sport: 80, dport: 40000, flags: TCP_RST | TCP_ACK, seq: 0, ack: 5001, window: 0, srcMac: NODE_MAC, dstMac: CLIENT_MAC });
    expect(rst.out.toString('hex')).toBe(wantRst.toString('hex'));
    const dgram = buildPacket6({ saddr: CLIENT, daddr: VIP, proto: UDP, sport: 1111, dport: 53, payload: Buffer.from('query') });
    const icmp = await run(dgram);
    expect(icmp.retval).toBe(TC_ACT_REDIRECT);
    // RFC 4443 3.1: type 1 code 4, 4 unused bytes, then the invoking packet (its header and the 8-byte UDP header).
    const wantIcmp = buildIcmp6({ saddr: VIP, daddr: CLIENT, type: 1, code: 4, body: dgram.subarray(14, 14 + 48), srcMac: NODE_MAC, dstMac: CLIENT_MAC });
    expect(icmp.out.toString('hex')).toBe(wantIcmp.toString('hex'));
    expect(checksum6Valid(icmp.out)).toBe(true);
    expect(icmp.p.nextHeader).toBe(ICMPV6);
    const s = readDatapathStats(dp.maps.statsFd);
    expect(s.packets.rejected).toBeGreaterThanOrEqual(2);
  });

  it('records both conntrack6 directions; a segment of a flow whose backend left gets an RST, a datagram re-picks', async () => {
    seedService(dp.maps, tcpSvc([B1, B2]));
    config();
    // Pin the flow's backend: one slot only at first.
    dp.maps.services6.update({ vip: VIP, port: 80, proto: TCP, slot: 0 }, { backendId: 7, svcId: 7, count: 1, flags: 0, affinityTimeout: 0 });
    await run(c2v);
    const fwd = dp.maps.conntrack6.lookup({ saddr: CLIENT, daddr: VIP, sport: 40000, dport: 80, proto: TCP });
    expect(fwd).toMatchObject({ backendId: 1, svcId: 7, natAddr: B1, natPort: 9376, origAddr: '::', flags: abi.CT_F_FIB | abi.CT_F_TIMED });
    const rev = dp.maps.conntrack6.lookup({ saddr: B1, daddr: CLIENT, sport: 9376, dport: 40000, proto: TCP });
    expect(rev).toMatchObject({ svcId: 7, natAddr: VIP, natPort: 80, flags: abi.CT_F_FIB | abi.CT_F_REPLY | abi.CT_F_TIMED });
    // Backend 1 leaves the service (id deleted): the next segment of that flow is reset.
    dp.maps.backends6.delete({ id: 1 });
    dp.maps.services6.update({ vip: VIP, port: 80, proto: TCP, slot: 1 }, { backendId: 2, svcId: 7, count: 0, flags: 0, affinityTimeout: 0 });
    const r = await run({ ...c2v, flags: TCP_ACK | TCP_PSH, seq: 5001, ack: 77, payload: Buffer.from('x') });
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.p).toMatchObject({ saddr: VIP, daddr: CLIENT, sport: 80, dport: 40000, flags: TCP_RST, seq: 77 });
    expect(dp.maps.conntrack6.lookup({ saddr: CLIENT, daddr: VIP, sport: 40000, dport: 80, proto: TCP })).toBeUndefined();
    // A new SYN on the same tuple goes to the remaining backend.
    expect((await run(c2v)).p).toMatchObject({ daddr: B2, dport: 9376 });
  });

  describe('ICMPv6 errors about NATed flows (RFC 4443) are translated back for their recipient', () => {
    const ROUTER = '2001:db8:19:200::fe';
    /** The first 48 bytes of a packet (its IPv6 header and the ports + sequence number of its
     * TCP header): what these errors quote here, so no quoted L4 checksum is in them. */
    const quote = (spec: Packet6Spec) => buildPacket6(spec).subarray(14, 14 + 48);
    const tooBig = (daddr: string, quoted: Packet6Spec) =>
      buildIcmp6({ saddr: ROUTER, daddr, type: 2, code: 0, rest: 1280, body: quote(quoted) });

    it('packet too big for a forward packet (client → backend after DNAT) reaches the client quoting client → VIP', async () => {
      seedService(dp.maps, tcpSvc([B1]));
      config();
      await run(c2v);
      const r = await run(tooBig(CLIENT, { ...c2v, daddr: B1, dport: 9376 }));
      expect(r.retval).not.toBe(TC_ACT_SHOT);
      expect(r.out.toString('hex')).toBe(tooBig(CLIENT, c2v).toString('hex'));
      expect(checksum6Valid(r.out)).toBe(true);
    });

    it('after hairpin SNAT: the error to the SNAT address goes to the client, quoting what the client sent', async () => {
      seedService(dp.maps, tcpSvc([B1]));
      config({ hairpin: HAIRPIN });
      const fromB1 = { ...c2v, saddr: B1 };
      await run(fromB1);
      const r = await run(tooBig(HAIRPIN, { ...fromB1, saddr: HAIRPIN, sport: SNAT_PORT, daddr: B1, dport: 9376 }));
      expect(r.out.toString('hex')).toBe(tooBig(B1, fromB1).toString('hex'));
      expect(checksum6Valid(r.out)).toBe(true);
    });

    it('time exceeded for a reply (VIP → client after reverse NAT) reaches the backend quoting backend → client', async () => {
      seedService(dp.maps, tcpSvc([B1]));
      config();
      await run(c2v);
      const reply: Packet6Spec = { saddr: VIP, daddr: CLIENT, proto: TCP, sport: 80, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 5001 };
      const err = (daddr: string, q: Packet6Spec) => buildIcmp6({ saddr: ROUTER, daddr, type: 3, code: 0, body: quote(q) });
      const r = await run(err(VIP, reply));
      expect(r.out.toString('hex')).toBe(err(B1, { ...reply, saddr: B1, sport: 9376 }).toString('hex'));
      expect(checksum6Valid(r.out)).toBe(true);
      const s = readDatapathStats(dp.maps.statsFd);
      expect(s.packets.icmp_error).toBeGreaterThanOrEqual(1);
    });

    it('an error about no flow of ours passes untouched', async () => {
      seedService(dp.maps, tcpSvc([B1]));
      config();
      const e = tooBig(CLIENT, { ...c2v, daddr: B2, dport: 9376 });
      const r = await run(e);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out.equals(e)).toBe(true);
    });
  });

  it('SNAT ports (bpf_loop over the range): distinct per flow, a full range drops, a reset flow gives its port back', async () => {
    seedService(dp.maps, tcpSvc([B1]));
    config({ hairpin: HAIRPIN });
    dp.maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: SNAT_PORT, snatPortMax: SNAT_PORT + 1, nodeAddr: '0.0.0.0' });
    const hairpin = (sport: number) => run({ ...c2v, saddr: B1, sport });
    const a = await hairpin(40001);
    const b = await hairpin(40002);
    expect([a.p.sport, b.p.sport].sort()).toEqual([SNAT_PORT, SNAT_PORT + 1]);
    expect([a.p.saddr, b.p.saddr]).toEqual([HAIRPIN, HAIRPIN]);
    const before = readDatapathStats(dp.maps.statsFd).drops.snat_ports_exhausted!;
    expect((await hairpin(40003)).retval).toBe(TC_ACT_SHOT);
    expect(readDatapathStats(dp.maps.statsFd).drops.snat_ports_exhausted).toBe(before + 1);
    // The backend resets flow a: its port is free for the next new flow.
    await run({ saddr: B1, daddr: HAIRPIN, proto: TCP, sport: 9376, dport: a.p.sport, flags: TCP_RST, seq: 1 });
    const c = await hairpin(40004);
    expect(c.retval).toBe(TC_ACT_OK);
    expect(c.p.sport).toBe(a.p.sport);
  });

  it('ClientIP affinity sends every new flow of a client to one backend (affinity6)', async () => {
    seedService(dp.maps, { ...tcpSvc([B1, B2, B3]), flags: abi.SVC_F_AFFINITY, affinityTimeout: 10800 });
    config();
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) seen.add((await run({ ...c2v, sport: 41000 + i })).p.daddr);
    expect(seen.size).toBe(1);
    const a = dp.maps.affinity6.lookup({ svcId: 7, client: CLIENT });
    expect(a && [B1, B2, B3][a.backendId - 1]).toBe([...seen][0]);
    // Another client is balanced on its own: over 24 flows from 24 clients, more than one backend.
    const others = new Set<string>();
    for (let i = 0; i < 24; i++) others.add((await run({ ...c2v, saddr: `2001:db8:18:1::${(0x100 + i).toString(16)}` })).p.daddr);
    expect(others.size).toBeGreaterThan(1);
  });

  it('Maglev: a new flow takes table[maglev_flow_hash6 % M], as the TS twin computes it', async () => {
    const M = 251;
    const SEED = 0x5eed;
    const ipOf = (id: number) => `2001:db8:18:1::${(0x1000 + id).toString(16)}`;
    seedService(dp.maps, { vip: VIP, port: 80, proto: TCP, svcId: 7, flags: abi.SVC_F_MAGLEV, backends: Array.from({ length: M }, (_, i) => ({ id: i + 1, ip: ipOf(i + 1), port: 9376 })) });
    config();
    const mm = new MaglevMaps(dp.maps.maglev, dp.maps.maglevCfg);
    try {
      await mm.configure({ tableSize: M, flowSeed: SEED });
      await mm.set(7, maglevEntry(Uint32Array.from({ length: M }, (_, i) => i + 1)));
      for (let i = 0; i < 60; i++) {
        const t: FiveTuple = { saddr: abi.canonicalIp6(`2001:db8:18:${((i * 7919) % 0xffff).toString(16)}::${((i * 104729) % 0xffff).toString(16)}`), daddr: VIP, sport: 1024 + i * 997, dport: 80, proto: TCP };
        const r = await run({ ...c2v, saddr: t.saddr, sport: t.sport });
        expect(r.p.daddr).toBe(ipOf((flowHash(t, SEED) % M) + 1));
      }
    } finally {
      mm.close();
    }
  });
});
