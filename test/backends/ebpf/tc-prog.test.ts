// tc_lb through BPF_PROG_TEST_RUN: packet in + map contents → verdict + rewritten packet,
// with every checksum recomputed independently in TS.
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { Dataplane } from '../../../src/backends/ebpf/loader.js';
import { describeKernel } from '../../kernel-required.js';
import { monotonicNs } from '../../../src/backends/ebpf/conntrack-gc.js';
import { DROP_REASONS, PACKET_PATHS, readDatapathStats } from '../../../src/backends/ebpf/stats.js';
import { seedService, useTestDataplane } from './fixtures.js';
import {
  CLIENT_MAC, ICMP, NODE_MAC, TCP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, UDP,
  buildFragments, buildIcmpError, buildPacket, checksumsValid, parsePacket, type PacketSpec,
} from './packets.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

const VIP = '198.19.1.175';
const CLIENT = '198.18.1.100';
const B1 = '198.18.1.11';
const B2 = '198.18.1.12';
const B3 = '198.18.1.13';
const HAIRPIN = '198.19.255.254';
const NODE_IP = '198.19.200.1';
const EXT = '198.19.250.7';
const EXTERNAL_IP = '198.19.250.1';
const REMOTE_POD = '198.18.2.11';
/** The SNAT source port the fixtures configure (a range of one). */
const SNAT_PORT = 61000;

describeKernel('tc_lb program (BPF_PROG_TEST_RUN)', () => {
  let dp: Dataplane;
  useTestDataplane((d) => (dp = d));

  async function run(spec: PacketSpec) {
    const r = await libbpf.testRun(dp.tc.fd, buildPacket(spec));
    return { retval: r.retval, out: r.dataOut, p: parsePacket(r.dataOut) };
  }

  function expectValidChecksums(buf: Buffer) {
    expect(checksumsValid(buf)).toEqual({ ip: true, l4: true });
  }

  const svc = (backends: { id: number; ip: string }[], extra: Partial<Parameters<typeof seedService>[1]> = {}) =>
    seedService(dp.maps, { vip: VIP, port: 80, proto: TCP, svcId: 7, backends: backends.map((b) => ({ ...b, port: 9376 })), ...extra });

  const syn = (sport = 40000, extra: Partial<PacketSpec> = {}): PacketSpec => ({
    saddr: CLIENT, daddr: VIP, proto: TCP, sport, dport: 80, flags: TCP_SYN, seq: 5000, ...extra,
  });

  // Table-driven fixtures: map contents, then packets in order; each expected output is the
  // exact frame (built from scratch, so its checksums are computed independently).
  interface Step { in: PacketSpec; verdict: number; out: PacketSpec | 'unchanged' }
  interface Fixture { name: string; services: Array<Parameters<typeof seedService>[1]>; hairpin?: string; snat?: string; steps: Step[] }
  const tcpSvc = (backends: string[]) => ({ vip: VIP, port: 80, proto: TCP, svcId: 7, backends: backends.map((ip, i) => ({ id: i + 1, ip, port: 9376 })) });
  const udpSvc = (backends: string[]) => ({ vip: VIP, port: 53, proto: UDP, svcId: 9, backends: backends.map((ip, i) => ({ id: 100 + i, ip, port: 5353 })) });
  const nodePortSvc = (backends: Array<{ id: number; ip: string; port: number; flags?: number }>) =>
    ({ vip: NODE_IP, port: 30080, proto: TCP, svcId: 11, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT, backends });
  const ext2np: PacketSpec = { saddr: EXT, daddr: NODE_IP, proto: TCP, sport: 50000, dport: 30080, flags: TCP_SYN, seq: 5000 };
  const c2v: PacketSpec = { saddr: CLIENT, daddr: VIP, proto: TCP, sport: 40000, dport: 80, flags: TCP_SYN, seq: 5000 };
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
      name: 'UDP: DNAT with a real checksum and with checksum 0 (none), reply reverse-NATed',
      services: [udpSvc([B3])],
      steps: [
        { in: { saddr: CLIENT, daddr: VIP, proto: UDP, sport: 1111, dport: 53, payload: Buffer.from('query') }, verdict: TC_ACT_OK, out: { saddr: CLIENT, daddr: B3, proto: UDP, sport: 1111, dport: 5353, payload: Buffer.from('query') } },
        {
          in: { saddr: CLIENT, daddr: VIP, proto: UDP, sport: 2222, dport: 53, payload: Buffer.from('q'), udpNoChecksum: true },
          verdict: TC_ACT_OK,
          out: { saddr: CLIENT, daddr: B3, proto: UDP, sport: 2222, dport: 5353, payload: Buffer.from('q'), udpNoChecksum: true },
        },
        { in: { saddr: B3, daddr: CLIENT, proto: UDP, sport: 5353, dport: 1111, payload: Buffer.from('answer') }, verdict: TC_ACT_OK, out: { saddr: VIP, daddr: CLIENT, proto: UDP, sport: 53, dport: 1111, payload: Buffer.from('answer') } },
      ],
    },
    {
      name: 'hairpin: source SNATed to the hairpin address, undone on the reply',
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
      name: 'NodePort to an endpoint on another node: SNAT to the node port address, undone on the reply',
      services: [nodePortSvc([{ id: 21, ip: REMOTE_POD, port: 9376, flags: abi.BE_F_ACTIVE | abi.BE_F_REMOTE }])],
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
      name: 'NodePort under externalTrafficPolicy Cluster SNATs a local endpoint too, undone on the reply',
      services: [{ ...nodePortSvc([{ id: 24, ip: B1, port: 9376 }]), flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_SNAT_ALL }],
      steps: [
        { in: ext2np, verdict: TC_ACT_OK, out: { ...ext2np, saddr: NODE_IP, sport: SNAT_PORT, daddr: B1, dport: 9376 } },
        {
          in: { saddr: B1, daddr: NODE_IP, proto: TCP, sport: 9376, dport: SNAT_PORT, flags: TCP_SYN | TCP_ACK, seq: 3, ack: 5001 },
          verdict: TC_ACT_OK,
          out: { saddr: NODE_IP, daddr: EXT, proto: TCP, sport: 30080, dport: 50000, flags: TCP_SYN | TCP_ACK, seq: 3, ack: 5001 },
        },
      ],
    },
    {
      name: 'NodePort to a local endpoint keeps the client source address',
      services: [nodePortSvc([{ id: 22, ip: B1, port: 9376 }])],
      steps: [{ in: ext2np, verdict: TC_ACT_OK, out: { ...ext2np, daddr: B1, dport: 9376 } }],
    },
    {
      name: 'external IP to an endpoint on another node: SNAT to lb_config.snat_addr',
      services: [{ vip: EXTERNAL_IP, port: 80, proto: TCP, svcId: 12, flags: abi.SVC_F_EXTERNAL, backends: [{ id: 23, ip: REMOTE_POD, port: 9376, flags: abi.BE_F_ACTIVE | abi.BE_F_REMOTE }] }],
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
      services: [{ ...nodePortSvc([]), flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_DROP_EMPTY }],
      steps: [{ in: ext2np, verdict: TC_ACT_SHOT, out: 'unchanged' }],
    },
  ];

  for (const f of fixtures) {
    it(`fixture: ${f.name}`, async () => {
      for (const s of f.services) seedService(dp.maps, s);
      // A one-port SNAT range makes the allocated source port known in advance.
      dp.maps.config.update({ id: 0 }, { hairpinAddr: f.hairpin ?? '0.0.0.0', snatAddr: f.snat ?? '0.0.0.0', snatPortMin: SNAT_PORT, snatPortMax: SNAT_PORT, nodeAddr: '0.0.0.0' });
      for (const [i, step] of f.steps.entries()) {
        const input = buildPacket(step.in);
        const r = await libbpf.testRun(dp.tc.fd, input);
        expect(r.retval, `step ${i} verdict`).toBe(step.verdict);
        const want = step.out === 'unchanged' ? input : buildPacket(step.out);
        expect(r.dataOut.toString('hex'), `step ${i} frame`).toBe(want.toString('hex'));
        expectValidChecksums(r.dataOut);
      }
    });
  }

  it('records both conntrack directions of a new flow', async () => {
    svc([{ id: 1, ip: B1 }]);
    await run(syn());
    const fwd = dp.maps.conntrack.lookup({ saddr: CLIENT, daddr: VIP, sport: 40000, dport: 80, proto: TCP });
    expect(fwd).toMatchObject({ backendId: 1, svcId: 7, natAddr: B1, natPort: 9376, origAddr: '0.0.0.0' });
    const rev = dp.maps.conntrack.lookup({ saddr: B1, daddr: CLIENT, sport: 9376, dport: 40000, proto: TCP });
    expect(rev).toMatchObject({ svcId: 7, natAddr: VIP, natPort: 80, flags: abi.CT_F_FIB | abi.CT_F_REPLY | abi.CT_F_TIMED });
  });

  describe('conntrack lifetimes', () => {
    const S = 1_000_000_000n;
    const fwdKey = { saddr: CLIENT, daddr: VIP, sport: 40000, dport: 80, proto: TCP };
    const revKey = { saddr: B1, daddr: CLIENT, sport: 9376, dport: 40000, proto: TCP };
    const fromB1 = (flags: number, extra: Partial<PacketSpec> = {}): PacketSpec =>
      ({ saddr: B1, daddr: CLIENT, proto: TCP, sport: 9376, dport: 40000, flags, seq: 1, ack: 5001, ...extra });
    /** Seconds from now to the entry's expiry (bpf_ktime_get_coarse_ns follows CLOCK_MONOTONIC). */
    const ttl = (k: abi.CtKey) => Number((dp.maps.conntrack.lookup(k)!.expires - monotonicNs()) / 1_000_000n) / 1000;
    /** The entry expires `s` seconds after its last packet: the test took at most a few seconds
     * since (qemu TCG is slow), and the coarse clock lags by at most a tick. */
    const expectTtl = (k: abi.CtKey, s: number) => {
      const t = ttl(k);
      expect(t).toBeLessThanOrEqual(s + 0.05);
      expect(t).toBeGreaterThan(s - 3);
    };
    const age = (k: abi.CtKey, by: bigint) => {
      const v = dp.maps.conntrack.lookup(k)!;
      dp.maps.conntrack.update(k, { ...v, expires: v.expires - by });
    };

    it('TCP states: SYN 60 s, established 6 h, FIN 10 s per direction; an RST ends the flow at once', async () => {
      svc([{ id: 1, ip: B1 }]);
      await run(c2v);
      expectTtl(fwdKey, abi.CT_SYN_TIMEOUT_S);
      expectTtl(revKey, abi.CT_SYN_TIMEOUT_S);
      await run(fromB1(TCP_SYN | TCP_ACK));
      expectTtl(revKey, abi.CT_SYN_TIMEOUT_S); // the SYN-ACK is still a SYN
      await run({ ...c2v, flags: TCP_ACK, seq: 5001, ack: 2 });
      expectTtl(fwdKey, abi.CT_TCP_TIMEOUT_S);
      expect(dp.maps.conntrack.lookup(fwdKey)!.flags & abi.CT_F_ESTABLISHED).toBeTruthy();
      await run(fromB1(TCP_ACK | TCP_PSH, { payload: Buffer.from('hello') }));
      expectTtl(revKey, abi.CT_TCP_TIMEOUT_S);
      // The client closes its half: only its direction drops to the close timeout.
      await run({ ...c2v, flags: TCP_ACK | TCP_FIN, seq: 5001, ack: 7 });
      expectTtl(fwdKey, abi.CT_CLOSE_TIMEOUT_S);
      expectTtl(revKey, abi.CT_TCP_TIMEOUT_S);
      await run(fromB1(TCP_ACK | TCP_FIN, { seq: 7, ack: 5002 }));
      expectTtl(revKey, abi.CT_CLOSE_TIMEOUT_S);
      // An RST from the backend: its reply is still translated, and then the flow is over.
      const rst = await run(fromB1(TCP_RST, { seq: 8 }));
      expect(rst.p).toMatchObject({ saddr: VIP, sport: 80, daddr: CLIENT });
      expect(dp.maps.conntrack.lookup(revKey)!.flags & abi.CT_F_DEAD).toBeTruthy();
      const late = await run(fromB1(TCP_ACK, { seq: 8 }));
      expect(late.retval).toBe(TC_ACT_OK);
      expect(late.p).toMatchObject({ saddr: B1, sport: 9376 }); // not the flow's any more: untouched
    });

    it('a TCP segment that is not a SYN opens no flow: an ACK to a frontend gets an RST, an RST is dropped, neither leaves entries', async () => {
      svc([{ id: 1, ip: B1 }]);
      const ack = await run({ ...c2v, flags: TCP_ACK | TCP_PSH, seq: 777, ack: 888, payload: Buffer.from('x') });
      expect(ack.retval).toBe(TC_ACT_REDIRECT);
      expect(ack.p).toMatchObject({ saddr: VIP, sport: 80, daddr: CLIENT, dport: 40000, flags: TCP_RST, seq: 888 });
      expect((await run({ ...c2v, flags: TCP_RST, seq: 1 })).retval).toBe(TC_ACT_SHOT);
      expect((await run({ ...c2v, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 2 })).retval).toBe(TC_ACT_REDIRECT);
      expect(await dp.maps.conntrack.dump()).toEqual([]);
    });

    it('a flow past its lifetime captures nothing: its reply tuple passes untouched, its forward tuple needs a new SYN', async () => {
      svc([{ id: 1, ip: B1 }]);
      await run(c2v);
      await run(fromB1(TCP_SYN | TCP_ACK));
      age(fwdKey, 61n * S);
      age(revKey, 61n * S);
      // A direct connection to the pod's address on the same ports: its replies keep their source.
      const direct = await run(fromB1(TCP_SYN | TCP_ACK, { seq: 50 }));
      expect(direct.p).toMatchObject({ saddr: B1, sport: 9376, daddr: CLIENT, dport: 40000 });
      const stray = await run({ ...c2v, flags: TCP_ACK, seq: 5001, ack: 2 });
      expect(stray.p).toMatchObject({ saddr: VIP, flags: TCP_RST });
      const again = await run({ ...c2v, seq: 9000 });
      expect(again.p).toMatchObject({ daddr: B1, dport: 9376 });
      expectTtl(fwdKey, abi.CT_SYN_TIMEOUT_S);
    });

    it('one-way UDP: the silent direction outlives its own lifetime while the other is live', async () => {
      seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [{ id: 100, ip: B3, port: 5353 }] });
      const q: PacketSpec = { saddr: CLIENT, daddr: VIP, proto: UDP, sport: 1111, dport: 53 };
      await run(q);
      const rk = { saddr: B3, daddr: CLIENT, sport: 5353, dport: 1111, proto: UDP };
      age(rk, 61n * S); // no answer for a minute, while the client kept sending
      const late = await run({ saddr: B3, daddr: CLIENT, proto: UDP, sport: 5353, dport: 1111 });
      expect(late.p).toMatchObject({ saddr: VIP, sport: 53 });
      expectTtl(rk, abi.CT_UDP_TIMEOUT_S);
    });

    it('an established flow writes its expiry at most once a second, not per packet', async () => {
      svc([{ id: 1, ip: B1 }]);
      await run(c2v);
      const ack = { ...c2v, flags: TCP_ACK, seq: 5001, ack: 2 };
      await run(ack);
      const e0 = dp.maps.conntrack.lookup(fwdKey)!.expires;
      age(fwdKey, S / 5n); // 0.2 s: a renewal now would move it by less than CT_RENEW_NS
      await run(ack);
      expect(dp.maps.conntrack.lookup(fwdKey)!.expires).toBe(e0 - S / 5n);
      age(fwdKey, 2n * S);
      await run(ack);
      expect(dp.maps.conntrack.lookup(fwdKey)!.expires).toBeGreaterThanOrEqual(e0);
    });
  });

  describe('fragmented datagrams', () => {
    const big = Buffer.alloc(4000, 'x');
    const query: PacketSpec = { saddr: CLIENT, daddr: VIP, proto: UDP, sport: 1111, dport: 53, payload: big };
    const answer: PacketSpec = { saddr: B3, daddr: CLIENT, proto: UDP, sport: 5353, dport: 1111, payload: big };
    const runAll = async (frames: Buffer[]) => {
      const out: Buffer[] = [];
      for (const f of frames) {
        const r = await libbpf.testRun(dp.tc.fd, f, { outSize: f.length + 256 });
        expect(r.retval).toBe(TC_ACT_OK);
        out.push(r.dataOut);
      }
      return out;
    };

    it('a 4000-byte UDP datagram each way: every fragment follows the first one\'s flow', async () => {
      seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [{ id: 100, ip: B3, port: 5353 }] });
      // Fragments of 1480 bytes, as a 1500-byte MTU makes them: 3 each way.
      const fwd = await runAll(buildFragments(query, 1480));
      expect(fwd.map((f) => f.toString('hex'))).toEqual(buildFragments({ ...query, daddr: B3, dport: 5353 }, 1480).map((f) => f.toString('hex')));
      const rev = await runAll(buildFragments(answer, 1480, 0x3333));
      expect(rev.map((f) => f.toString('hex'))).toEqual(buildFragments({ ...answer, saddr: VIP, sport: 53 }, 1480, 0x3333).map((f) => f.toString('hex')));
      expect(await dp.maps.frag.dump()).toEqual([]); // each last fragment forgot its datagram
    });

    it('a later fragment whose first was not seen passes untouched and opens no flow', async () => {
      seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [{ id: 100, ip: B3, port: 5353 }] });
      const frags = buildFragments(query, 1480);
      const out = await runAll(frags.slice(1));
      expect(out.map((f) => f.toString('hex'))).toEqual(frags.slice(1).map((f) => f.toString('hex')));
      expect(await dp.maps.conntrack.dump()).toEqual([]);
    });
  });

  describe('tc_lb_l3: interfaces without an Ethernet header (IPIP, WireGuard, tun)', () => {
    /** The same frame without its Ethernet header, as an L3 device hands it to tc. */
    const l3 = (spec: PacketSpec) => buildPacket(spec).subarray(14);
    const runL3 = async (spec: PacketSpec) => {
      const input = l3(spec);
      const r = await libbpf.testRun(dp.tcL3.fd, input);
      return { retval: r.retval, out: r.dataOut };
    };

    it('a reply from a backend behind the tunnel is reverse-NATed; a new flow is DNATed', async () => {
      svc([{ id: 1, ip: REMOTE_POD }]);
      // The flow starts on a pod's veth (tc_lb), its reply comes back over the tunnel (tc_lb_l3).
      await run(c2v);
      const reply: PacketSpec = { saddr: REMOTE_POD, daddr: CLIENT, proto: TCP, sport: 9376, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 5001 };
      const r = await runL3(reply);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out.toString('hex')).toBe(l3({ ...reply, saddr: VIP, sport: 80 }).toString('hex'));
      const fresh = await runL3({ ...c2v, sport: 40100 });
      expect(fresh.out.toString('hex')).toBe(l3({ ...c2v, sport: 40100, daddr: REMOTE_POD, dport: 9376 }).toString('hex'));
    });

    it('answers a SYN to a frontend without endpoints with an RST that has no Ethernet header either', async () => {
      svc([]);
      const r = await runL3(syn(40001, { seq: 0xfffffff0 }));
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(r.out.length).toBe(40); // IP + TCP, nothing in front
      const framed = Buffer.concat([Buffer.alloc(14), r.out]); // for the parser, which expects Ethernet
      expect(parsePacket(framed)).toMatchObject({ saddr: VIP, daddr: CLIENT, sport: 80, dport: 40001, flags: TCP_RST | TCP_ACK, ack: 0xfffffff1, totLen: 40 });
      expectValidChecksums(framed);
    });

    it("tc_lb (Ethernet) cannot parse an L3 packet: this is what passed un-NATed before", async () => {
      svc([{ id: 1, ip: REMOTE_POD }]);
      await run(c2v);
      const reply = l3({ saddr: REMOTE_POD, daddr: CLIENT, proto: TCP, sport: 9376, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 5001 });
      const r = await libbpf.testRun(dp.tc.fd, reply);
      expect(r.dataOut.toString('hex')).toBe(reply.toString('hex'));
    });
  });

  describe('ICMP errors about NATed flows', () => {
    const ROUTER = '198.19.200.254';
    /** IP header + the first 8 bytes of L4 of a packet, as an ICMP error quotes it. */
    const quote = (spec: PacketSpec) => buildPacket(spec).subarray(14, 14 + 28);
    const fragNeeded = (to: string, quoted: PacketSpec) =>
      buildIcmpError({ saddr: ROUTER, daddr: to, type: 3, code: 4, rest: 1400, quoted: quote(quoted) });

    it('a frag-needed about a SNATed forward packet reaches the client, quoting what the client sent', async () => {
      dp.maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: SNAT_PORT, snatPortMax: SNAT_PORT, nodeAddr: '0.0.0.0' });
      seedService(dp.maps, nodePortSvc([{ id: 21, ip: REMOTE_POD, port: 9376, flags: abi.BE_F_ACTIVE | abi.BE_F_REMOTE }]));
      await run(ext2np);
      // The hop towards the pod quotes the packet as it left: SNATed and DNATed.
      const sent = { ...ext2np, saddr: NODE_IP, sport: SNAT_PORT, daddr: REMOTE_POD, dport: 9376, flags: TCP_ACK, seq: 5001 };
      const r = await libbpf.testRun(dp.tc.fd, fragNeeded(NODE_IP, sent));
      expect(r.retval).toBe(TC_ACT_OK);
      const want = fragNeeded(EXT, { ...ext2np, flags: TCP_ACK, seq: 5001 });
      expect(r.dataOut.toString('hex')).toBe(want.toString('hex'));
      expectValidChecksums(r.dataOut);
    });

    it("an error about a reply goes to the backend that sent it, quoting the backend's own packet", async () => {
      svc([{ id: 1, ip: B1 }]);
      await run(c2v);
      const reply: PacketSpec = { saddr: VIP, daddr: CLIENT, proto: TCP, sport: 80, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 5001 };
      const r = await libbpf.testRun(dp.tc.fd, fragNeeded(VIP, reply));
      const want = fragNeeded(B1, { ...reply, saddr: B1, sport: 9376 });
      expect(r.dataOut.toString('hex')).toBe(want.toString('hex'));
      expectValidChecksums(r.dataOut);
      const s = readDatapathStats(dp.maps.statsFd);
      expect(s.packets.icmp_error).toBeGreaterThanOrEqual(1);
    });

    it('a port unreachable about a UDP flow is translated; its quoted UDP checksum is left as sent', async () => {
      seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [{ id: 100, ip: B3, port: 5353 }] });
      const q: PacketSpec = { saddr: CLIENT, daddr: VIP, proto: UDP, sport: 1111, dport: 53, payload: Buffer.from('query') };
      await run(q);
      // The client's stack answers the backend's reply with "port unreachable" (its socket is gone).
      const sentReply = quote({ saddr: VIP, daddr: CLIENT, proto: UDP, sport: 53, dport: 1111, payload: Buffer.from('answer') });
      const input = buildIcmpError({ saddr: CLIENT, daddr: VIP, type: 3, code: 3, quoted: sentReply });
      const r = await libbpf.testRun(dp.tc.fd, input);
      const wantQuote = quote({ saddr: B3, daddr: CLIENT, proto: UDP, sport: 5353, dport: 1111, payload: Buffer.from('answer') });
      sentReply.copy(wantQuote, 26, 26, 28); // the quoted UDP checksum: as the client saw it
      const want = buildIcmpError({ saddr: CLIENT, daddr: B3, type: 3, code: 3, quoted: wantQuote });
      expect(r.dataOut.toString('hex')).toBe(want.toString('hex'));
    });

    it('ICMP that is not an error about a flow of ours passes untouched', async () => {
      svc([{ id: 1, ip: B1 }]);
      const other = fragNeeded(CLIENT, { saddr: CLIENT, daddr: B2, proto: TCP, sport: 40000, dport: 9376, flags: TCP_ACK });
      const echo = buildIcmpError({ saddr: CLIENT, daddr: VIP, type: 8, code: 0, quoted: Buffer.alloc(28) });
      for (const f of [other, echo]) {
        const r = await libbpf.testRun(dp.tc.fd, f);
        expect(r.retval).toBe(TC_ACT_OK);
        expect(r.dataOut.toString('hex')).toBe(f.toString('hex'));
      }
    });
  });

  it('SNAT: clients on the same source port get distinct ports towards one backend, each reply reaches its own client, a full range drops', async () => {
    dp.maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: 61000, snatPortMax: 61001, nodeAddr: '0.0.0.0' });
    seedService(dp.maps, nodePortSvc([{ id: 21, ip: REMOTE_POD, port: 9376, flags: abi.BE_F_ACTIVE | abi.BE_F_REMOTE }]));
    const clients = [EXT, '198.19.250.8', '198.19.250.9'];
    const ports: number[] = [];
    for (const c of clients.slice(0, 2)) {
      const r = await run({ ...ext2np, saddr: c });
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.p).toMatchObject({ saddr: NODE_IP, daddr: REMOTE_POD, dport: 9376 });
      ports.push(r.p.sport);
    }
    expect(ports.slice().sort()).toEqual([61000, 61001]);
    // The flow keeps its port; each port's reply goes back to its own client and port.
    expect((await run({ ...ext2np, flags: TCP_ACK, seq: 5001, ack: 4 })).p.sport).toBe(ports[0]);
    for (const [i, c] of clients.slice(0, 2).entries()) {
      const r = await run({ saddr: REMOTE_POD, daddr: NODE_IP, proto: TCP, sport: 9376, dport: ports[i]!, flags: TCP_SYN | TCP_ACK, seq: 3, ack: 5001 });
      expect(r.p).toMatchObject({ saddr: NODE_IP, sport: 30080, daddr: c, dport: 50000 });
      expectValidChecksums(r.out);
    }
    // Both ports of the range are taken towards this backend: a third client is dropped.
    expect((await run({ ...ext2np, saddr: clients[2]! })).retval).toBe(TC_ACT_SHOT);
  });

  it('SNAT: a port comes back once its flow is reset (by either side), not while it is closing or was opened again', async () => {
    dp.maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: 61000, snatPortMax: 61000, nodeAddr: '0.0.0.0' });
    seedService(dp.maps, nodePortSvc([{ id: 21, ip: REMOTE_POD, port: 9376, flags: abi.BE_F_ACTIVE | abi.BE_F_REMOTE }]));
    const [a, b, c] = [EXT, '198.19.250.8', '198.19.250.9'];
    const fwdKey = (client: string) => ({ saddr: client, daddr: NODE_IP, sport: 50000, dport: 30080, proto: TCP });
    expect((await run({ ...ext2np, saddr: a })).p.sport).toBe(61000);
    // The one port is live: b waits. A FIN only starts the close timeout (10 s).
    expect((await run({ ...ext2np, saddr: b })).retval).toBe(TC_ACT_SHOT);
    await run({ ...ext2np, saddr: a, flags: TCP_ACK | TCP_FIN, seq: 5001, ack: 4 });
    expect((await run({ ...ext2np, saddr: b })).retval).toBe(TC_ACT_SHOT);
    // A reset and then a new SYN on the same tuple: that is a live flow again.
    await run({ ...ext2np, saddr: a, flags: TCP_RST, seq: 5002 });
    expect((await run({ ...ext2np, saddr: a, seq: 9000 })).p.sport).toBe(61000);
    expect((await run({ ...ext2np, saddr: b })).retval).toBe(TC_ACT_SHOT);
    // a resets its flow: the port goes to b at once, and a's flow is gone with it.
    await run({ ...ext2np, saddr: a, flags: TCP_RST, seq: 9001 });
    const rb = await run({ ...ext2np, saddr: b });
    expect(rb.p).toMatchObject({ saddr: NODE_IP, sport: 61000, daddr: REMOTE_POD });
    expect(dp.maps.conntrack.lookup(fwdKey(a))).toBeUndefined();
    const reply = await run({ saddr: REMOTE_POD, daddr: NODE_IP, proto: TCP, sport: 9376, dport: 61000, flags: TCP_SYN | TCP_ACK, seq: 3, ack: 5001 });
    expect(reply.p).toMatchObject({ daddr: b, dport: 50000 });
    // The backend resets b's flow (a reply-side RST): the port goes to c.
    await run({ saddr: REMOTE_POD, daddr: NODE_IP, proto: TCP, sport: 9376, dport: 61000, flags: TCP_RST, seq: 4 });
    expect((await run({ ...ext2np, saddr: c })).p).toMatchObject({ saddr: NODE_IP, sport: 61000 });
  });

  it('counts every packet by path and every drop by reason (dp_stats), each exactly once', async () => {
    const zero = (names: ReadonlyArray<readonly [number, string]>) => Object.fromEntries(names.map(([, n]) => [n, 0]));
    /** Runs one packet and returns how each counter moved. */
    const moved = async (spec: PacketSpec) => {
      const before = readDatapathStats(dp.maps.statsFd);
      await run(spec);
      const after = readDatapathStats(dp.maps.statsFd);
      const d = (k: 'packets' | 'drops') => Object.fromEntries(Object.entries(after[k]).map(([n, v]) => [n, v - before[k][n]!]));
      return { packets: d('packets'), drops: d('drops') };
    };
    const only = (packets: Record<string, number>, drops: Record<string, number> = {}) => ({
      packets: { ...zero(PACKET_PATHS), ...packets },
      drops: { ...zero(DROP_REASONS), ...drops },
    });
    dp.maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: 61000, snatPortMax: 61000, nodeAddr: '0.0.0.0' });
    svc([{ id: 1, ip: B1 }]);
    expect(await moved(c2v)).toEqual(only({ new: 1 }));
    expect(await moved({ saddr: B1, daddr: CLIENT, proto: TCP, sport: 9376, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 5001 })).toEqual(only({ reply: 1 }));
    expect(await moved({ ...c2v, flags: TCP_ACK, seq: 5001, ack: 2 })).toEqual(only({ established: 1 }));
    // The backend leaves: the next segment of that flow is answered with a reset.
    dp.maps.backends.delete({ id: 1 });
    expect(await moved({ ...c2v, flags: TCP_ACK, seq: 5001, ack: 2 })).toEqual(only({ reset: 1 }));
    // Its slot still names it (a sync half done): a new flow has no backend to go to.
    expect(await moved({ ...c2v, sport: 40001 })).toEqual(only({}, { no_backend: 1 }));
    svc([]);
    expect(await moved({ ...c2v, sport: 40002 })).toEqual(only({ rejected: 1 }));
    expect(await moved({ ...c2v, sport: 40003, flags: TCP_RST })).toEqual(only({}, { unanswered: 1 }));
    seedService(dp.maps, { ...nodePortSvc([]), flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_DROP_EMPTY });
    expect(await moved(ext2np)).toEqual(only({}, { no_local_endpoint: 1 }));
    // One SNAT port (61000) towards the remote pod: the second client finds it taken.
    seedService(dp.maps, { ...nodePortSvc([{ id: 21, ip: REMOTE_POD, port: 9376, flags: abi.BE_F_ACTIVE | abi.BE_F_REMOTE }]), port: 30081, svcId: 12 });
    expect(await moved({ ...ext2np, dport: 30081 })).toEqual(only({ new: 1 }));
    expect(await moved({ ...ext2np, dport: 30081, saddr: '198.19.250.8' })).toEqual(only({}, { snat_ports_exhausted: 1 }));
  });

  it('rejects a SYN to a frontend without endpoints with an RST sent back out', async () => {
    svc([]);
    const { retval, out, p } = await run(syn(40001, { seq: 0xfffffff0 }));
    expect(retval).toBe(TC_ACT_REDIRECT);
    expect(out.length).toBe(54);
    expect(p).toMatchObject({
      srcMac: NODE_MAC, dstMac: CLIENT_MAC, saddr: VIP, daddr: CLIENT, sport: 80, dport: 40001,
      flags: TCP_RST | TCP_ACK, ack: 0xfffffff1, totLen: 40,
    });
    expectValidChecksums(out);
  });

  it('rejects UDP to a frontend without endpoints with ICMP port unreachable', async () => {
    seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [] });
    const input = buildPacket({ saddr: CLIENT, daddr: VIP, proto: UDP, sport: 1111, dport: 53, payload: Buffer.from('x'.repeat(100)) });
    const r = await libbpf.testRun(dp.tc.fd, input);
    const p = parsePacket(r.dataOut);
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(p).toMatchObject({ saddr: VIP, daddr: CLIENT, proto: ICMP, icmpType: 3, icmpCode: 3, totLen: 56 });
    expect(p.inner!.equals(input.subarray(14, 14 + 28))).toBe(true);
    expectValidChecksums(r.dataOut);
  });

  it('keeps an established flow on its backend when the slots change', async () => {
    svc([{ id: 1, ip: B1 }]);
    await run(syn());
    // Endpoint 1 leaves the slots (still listed, e.g. terminating); only 2 takes new flows.
    dp.maps.backends.update({ id: 1 }, { ip: B1, port: 9376, proto: TCP, flags: abi.BE_F_TERMINATING, spId: 7 });
    svc([{ id: 2, ip: B2 }]);
    const est = await run(syn(40000, { flags: TCP_ACK | TCP_PSH, seq: 5001, ack: 77, payload: Buffer.from('GET /') }));
    expect(est.p.daddr).toBe(B1);
    expectValidChecksums(est.out);
    const fresh = await run(syn(40002));
    expect(fresh.p.daddr).toBe(B2);
  });

  it('resets an established TCP flow whose backend was deleted', async () => {
    svc([{ id: 1, ip: B1 }]);
    await run(syn());
    dp.maps.backends.delete({ id: 1 });
    svc([{ id: 2, ip: B2 }]);
    const { retval, out, p } = await run(syn(40000, { flags: TCP_ACK | TCP_PSH, seq: 5001, ack: 123456, payload: Buffer.from('abc') }));
    expect(retval).toBe(TC_ACT_REDIRECT);
    expect(p).toMatchObject({ saddr: VIP, daddr: CLIENT, sport: 80, dport: 40000, flags: TCP_RST, seq: 123456 });
    expectValidChecksums(out);
    expect(dp.maps.conntrack.lookup({ saddr: CLIENT, daddr: VIP, sport: 40000, dport: 80, proto: TCP })).toBeUndefined();
  });

  it('moves a UDP flow whose backend was deleted to a live one', async () => {
    seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [{ id: 1, ip: B1, port: 53 }] });
    const pkt: PacketSpec = { saddr: CLIENT, daddr: VIP, proto: UDP, sport: 3333, dport: 53 };
    expect((await run(pkt)).p.daddr).toBe(B1);
    dp.maps.backends.delete({ id: 1 });
    seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [{ id: 2, ip: B2, port: 53 }] });
    const r = await run(pkt);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(r.p.daddr).toBe(B2);
    const reply = await run({ saddr: B2, daddr: CLIENT, proto: UDP, sport: 53, dport: 3333 });
    expect(reply.p).toMatchObject({ saddr: VIP, sport: 53 });
  });

  it('spreads new flows over all slots', async () => {
    svc([{ id: 1, ip: B1 }, { id: 2, ip: B2 }, { id: 3, ip: B3 }]);
    const seen = new Map<string, number>();
    for (let i = 0; i < 90; i++) {
      const { p } = await run(syn(41000 + i));
      seen.set(p.daddr, (seen.get(p.daddr) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual([B1, B2, B3]);
  });

  it('ClientIP affinity sends every new flow of a client to one backend', async () => {
    svc([{ id: 1, ip: B1 }, { id: 2, ip: B2 }, { id: 3, ip: B3 }], { flags: abi.SVC_F_AFFINITY, affinityTimeout: 10800 });
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add((await run(syn(42000 + i))).p.daddr);
    expect(seen.size).toBe(1);
    const other = await run(syn(42000, { saddr: '198.18.1.101' }));
    expect([B1, B2, B3]).toContain(other.p.daddr);
  });

  it('ClientIP affinity expires after its timeout', async () => {
    svc([{ id: 1, ip: B1 }, { id: 2, ip: B2 }, { id: 3, ip: B3 }], { flags: abi.SVC_F_AFFINITY, affinityTimeout: 1 });
    const first = (await run(syn(43000))).p.daddr;
    const ak = { svcId: 7, client: CLIENT };
    const v = dp.maps.affinity.lookup(ak)!;
    // Age the entry by two seconds instead of sleeping.
    dp.maps.affinity.update(ak, { ...v, lastUsed: v.lastUsed - 2_000_000_000n });
    const seen = new Set<string>([first]);
    for (let i = 1; i < 40 && seen.size < 2; i++) {
      const e = dp.maps.affinity.lookup(ak)!;
      dp.maps.affinity.update(ak, { ...e, lastUsed: e.lastUsed - 2_000_000_000n });
      seen.add((await run(syn(43000 + i))).p.daddr);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it("ClientIP affinity never uses a backend of another service, even when the entry names one", async () => {
    svc([{ id: 1, ip: B1 }, { id: 2, ip: B2 }, { id: 3, ip: B3 }], { flags: abi.SVC_F_AFFINITY, affinityTimeout: 10800 });
    const OTHER = '198.18.1.60';
    seedService(dp.maps, { vip: '198.19.1.99', port: 80, proto: TCP, svcId: 8, backends: [{ id: 50, ip: OTHER, port: 9376 }] });
    await run(syn(44000));
    const ak = { svcId: 7, client: CLIENT };
    // A fresh entry whose backend id belongs to service 8 (stale state, or an id reused).
    dp.maps.affinity.update(ak, { ...dp.maps.affinity.lookup(ak)!, backendId: 50 });
    const { p } = await run(syn(44001));
    expect([B1, B2, B3]).toContain(p.daddr);
    expect(dp.maps.affinity.lookup(ak)!.backendId).not.toBe(50);
  });

  it('drops (client retransmits) when slot 0 counts a slot that is not written yet', async () => {
    dp.maps.services.update({ vip: VIP, port: 80, proto: TCP, slot: 0 }, { backendId: 0, svcId: 7, count: 1, flags: 0, affinityTimeout: 0 });
    const r = await run(syn());
    expect(r.retval).toBe(TC_ACT_SHOT);
  });
}, { btf: true });
