// xdp_lb through BPF_PROG_TEST_RUN, inside a namespace of the test's own whose routes and
// (permanent) neighbours make bpf_fib_lookup's answers known in advance: frame in + map
// contents → verdict + the exact frame out, built from scratch (its checksums computed
// independently in TS), and the conntrack entries tc_lb then reads.
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { Dataplane } from '../../../src/backends/ebpf/loader.js';
import { readDatapathStats } from '../../../src/backends/ebpf/stats.js';
import { describeKernel } from '../../kernel-required.js';
import { createNetns, deleteNetns, ip, newRunPrefix, nsRun } from '../../harness/netns.js';
import { seedService, useTestDataplane } from './fixtures.js';
import { TCP, TCP_ACK, TCP_SYN, UDP, buildFragments, buildIcmpError, buildPacket, checksumsValid, type PacketSpec } from './packets.js';

const XDP_DROP = 1;
const XDP_PASS = 2;
const XDP_REDIRECT = 4;

const NODE_IP = '198.19.200.1';
const REMOTE_NODE = '198.19.200.2';
const EXT = '198.19.250.7';
const LB_IP = '198.19.250.1';
const B1 = '198.18.1.11'; // local pod: route + neighbour on pod0
const B_NO_NEIGH = '198.18.1.12'; // local pod without a resolved neighbour
const B_NO_ROUTE = '198.18.3.11'; // no route at all
const REMOTE_POD = '198.18.2.11'; // via the remote node, out of ext0 again
const SNAT_PORT = 61000;

// Interface MACs set by the test: what the FIB reports as source / next hop.
const EXT0_MAC = '02:00:00:00:10:01';
const POD0_MAC = '02:00:00:00:20:01';
const B1_MAC = '02:00:00:00:20:11';
const REMOTE_NODE_MAC = '02:00:00:00:10:02';
const CLIENT_MAC = '02:00:00:00:10:99';

describeKernel('xdp_lb program (BPF_PROG_TEST_RUN in a namespace)', () => {
  let dp: Dataplane;
  useTestDataplane((d) => (dp = d));
  const ns = `${newRunPrefix()}-xdp`;

  beforeAll(async () => {
    await createNetns(ns);
    await nsRun(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    for (const [dev, peer, mac] of [['ext0', 'ext0p', EXT0_MAC], ['pod0', 'pod0p', POD0_MAC]] as const) {
      await ip(['-n', ns, 'link', 'add', dev, 'address', mac, 'type', 'veth', 'peer', 'name', peer]);
      await ip(['-n', ns, 'link', 'set', dev, 'up']);
      await ip(['-n', ns, 'link', 'set', peer, 'up']);
    }
    await ip(['-n', ns, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'ext0']);
    await ip(['-n', ns, 'neigh', 'replace', REMOTE_NODE, 'lladdr', REMOTE_NODE_MAC, 'dev', 'ext0', 'nud', 'permanent']);
    await ip(['-n', ns, 'route', 'add', '198.18.2.0/24', 'via', REMOTE_NODE]);
    await ip(['-n', ns, 'addr', 'add', '198.18.1.1/32', 'dev', 'pod0']);
    for (const pod of [B1, B_NO_NEIGH]) await ip(['-n', ns, 'route', 'add', `${pod}/32`, 'dev', 'pod0']);
    await ip(['-n', ns, 'neigh', 'replace', B1, 'lladdr', B1_MAC, 'dev', 'pod0', 'nud', 'permanent']);
  });
  afterAll(() => deleteNetns(ns));

  const run = (data: Buffer) => libbpf.xdpTestRun({ progFd: dp.xdp.fd, data, netns: `/run/netns/${ns}`, ifname: 'ext0' });
  /** lb_config, and xdp_cfg with local redirects allowed unless said otherwise (--xdp-local-redirect). */
  const cfg = (snatAddr = '0.0.0.0', localRedirect = true) => {
    dp.maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr, snatPortMin: SNAT_PORT, snatPortMax: SNAT_PORT, nodeAddr: '0.0.0.0' });
    dp.maps.xdpCfg.update({ id: 0 }, { flags: localRedirect ? abi.XDP_CFG_F_LOCAL_REDIRECT : 0 });
  };
  const stats = () => readDatapathStats(dp.maps.statsFd);
  const xdpCount = () => {
    const s = stats();
    return { new: s.packets.xdp_new!, established: s.packets.xdp_established! };
  };

  const CLUSTER = abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT | abi.SVC_F_SNAT_ALL; // eTP Cluster
  const LOCAL = abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT; // eTP Local
  const nodePort = (ip: string, flags: number, beFlags = abi.BE_F_ACTIVE | abi.BE_F_ACTIVE_EXT, proto = TCP) =>
    seedService(dp.maps, { vip: NODE_IP, port: 30080, proto, svcId: 11, flags, backends: [{ id: 21, ip, port: 9376, flags: beFlags }] });
  const syn: PacketSpec = { saddr: EXT, daddr: NODE_IP, proto: TCP, sport: 50000, dport: 30080, flags: TCP_SYN, seq: 5000, srcMac: CLIENT_MAC, dstMac: EXT0_MAC, ttl: 64 };
  /** What the FIB says the frame leaves with: a router hop's TTL and MACs. */
  const hop = (s: PacketSpec, srcMac: string, dstMac: string): PacketSpec => ({ ...s, ttl: 63, srcMac, dstMac });

  it('NodePort, eTP Cluster, local endpoint: DNAT + SNAT to the node address and an allocated port, redirected to the pod veth', async () => {
    cfg();
    nodePort(B1, CLUSTER);
    const before = xdpCount();
    const r = await run(buildPacket(syn));
    expect(r.retval).toBe(XDP_REDIRECT);
    const want = buildPacket(hop({ ...syn, saddr: NODE_IP, sport: SNAT_PORT, daddr: B1, dport: 9376 }, POD0_MAC, B1_MAC));
    expect(r.dataOut.toString('hex')).toBe(want.toString('hex'));
    expect(checksumsValid(r.dataOut)).toEqual({ ip: true, l4: true });
    expect(xdpCount().new - before.new).toBe(1);

    // Both conntrack entries, as tc_lb writes them (CT_F_FIB both ways: never through netfilter).
    const fwd = dp.maps.conntrack.lookup({ saddr: EXT, daddr: NODE_IP, sport: 50000, dport: 30080, proto: TCP });
    expect(fwd).toMatchObject({ backendId: 21, svcId: 11, natAddr: B1, natPort: 9376, origAddr: NODE_IP, origPort: SNAT_PORT });
    expect(fwd!.flags & (abi.CT_F_FIB | abi.CT_F_HAIRPIN | abi.CT_F_REPLY)).toBe(abi.CT_F_FIB | abi.CT_F_HAIRPIN);
    const rep = dp.maps.conntrack.lookup({ saddr: B1, daddr: NODE_IP, sport: 9376, dport: SNAT_PORT, proto: TCP });
    expect(rep).toMatchObject({ backendId: 21, svcId: 11, natAddr: NODE_IP, natPort: 30080, origAddr: EXT, origPort: 50000 });
    expect(rep!.flags & (abi.CT_F_FIB | abi.CT_F_REPLY)).toBe(abi.CT_F_FIB | abi.CT_F_REPLY);

    // tc_lb reverse-NATs the pod's SYN-ACK with the entry XDP wrote.
    const synAck: PacketSpec = { saddr: B1, daddr: NODE_IP, proto: TCP, sport: 9376, dport: SNAT_PORT, flags: TCP_SYN | TCP_ACK, seq: 3, ack: 5001 };
    const tc = await libbpf.testRun(dp.tc.fd, buildPacket(synAck));
    expect(tc.retval).not.toBe(2 /* TC_ACT_SHOT */);
    expect(tc.dataOut.toString('hex')).toBe(buildPacket({ saddr: NODE_IP, daddr: EXT, proto: TCP, sport: 30080, dport: 50000, flags: TCP_SYN | TCP_ACK, seq: 3, ack: 5001 }).toString('hex'));

    // The client's ACK follows the tracked flow in XDP.
    const ack = { ...syn, flags: TCP_ACK, seq: 5001, ack: 4 };
    const r2 = await run(buildPacket(ack));
    expect(r2.retval).toBe(XDP_REDIRECT);
    expect(r2.dataOut.toString('hex')).toBe(buildPacket(hop({ ...ack, saddr: NODE_IP, sport: SNAT_PORT, daddr: B1, dport: 9376 }, POD0_MAC, B1_MAC)).toString('hex'));
    expect(xdpCount().established - before.established).toBe(1);
  });

  it('NodePort to an endpoint on another node: SNAT, redirected back out of the external interface to that node', async () => {
    cfg();
    nodePort(REMOTE_POD, LOCAL, abi.BE_F_ACTIVE | abi.BE_F_ACTIVE_EXT | abi.BE_F_REMOTE);
    const r = await run(buildPacket(syn));
    // A redirect to ext0 itself, not XDP_TX (xdp_lb.bpf.c, xdp_send).
    expect(r.retval).toBe(XDP_REDIRECT);
    expect(r.dataOut.toString('hex')).toBe(buildPacket(hop({ ...syn, saddr: NODE_IP, sport: SNAT_PORT, daddr: REMOTE_POD, dport: 9376 }, EXT0_MAC, REMOTE_NODE_MAC)).toString('hex'));
  });

  it('without XDP_CFG_F_LOCAL_REDIRECT (the default): a flow to a local pod passes to tc untouched, leaving no trace; one to another node stays in XDP', async () => {
    cfg(undefined, false);
    nodePort(B1, CLUSTER);
    const before = xdpCount();
    const frame = buildPacket(syn);
    const r = await run(frame);
    expect(r.retval).toBe(XDP_PASS);
    expect(r.dataOut.toString('hex')).toBe(frame.toString('hex'));
    expect(dp.maps.conntrack.lookup({ saddr: EXT, daddr: NODE_IP, sport: 50000, dport: 30080, proto: TCP })).toBeUndefined();
    expect(xdpCount()).toEqual(before);

    nodePort(REMOTE_POD, LOCAL, abi.BE_F_ACTIVE | abi.BE_F_ACTIVE_EXT | abi.BE_F_REMOTE);
    const r2 = await run(buildPacket(syn));
    expect(r2.retval).toBe(XDP_REDIRECT);
    expect(r2.dataOut.toString('hex')).toBe(buildPacket(hop({ ...syn, saddr: NODE_IP, sport: SNAT_PORT, daddr: REMOTE_POD, dport: 9376 }, EXT0_MAC, REMOTE_NODE_MAC)).toString('hex'));
  });

  it('eTP Local, local endpoint: DNAT only, the client address kept', async () => {
    cfg();
    nodePort(B1, LOCAL);
    const r = await run(buildPacket(syn));
    expect(r.retval).toBe(XDP_REDIRECT);
    expect(r.dataOut.toString('hex')).toBe(buildPacket(hop({ ...syn, daddr: B1, dport: 9376 }, POD0_MAC, B1_MAC)).toString('hex'));
    expect(dp.maps.conntrack.lookup({ saddr: B1, daddr: EXT, sport: 9376, dport: 50000, proto: TCP })).toMatchObject({ natAddr: NODE_IP, natPort: 30080, origAddr: '0.0.0.0' });
  });

  it('UDP to a LoadBalancer IP: DNAT + SNAT to lb_config.snat_addr; a datagram without checksum keeps none', async () => {
    cfg(NODE_IP);
    seedService(dp.maps, { vip: LB_IP, port: 53, proto: UDP, svcId: 12, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_SNAT_ALL, backends: [{ id: 31, ip: B1, port: 5353 }] });
    const dgram: PacketSpec = { saddr: EXT, daddr: LB_IP, proto: UDP, sport: 40000, dport: 53, payload: Buffer.from('query'), srcMac: CLIENT_MAC, dstMac: EXT0_MAC, ttl: 64 };
    const r = await run(buildPacket(dgram));
    expect(r.retval).toBe(XDP_REDIRECT);
    expect(r.dataOut.toString('hex')).toBe(buildPacket(hop({ ...dgram, saddr: NODE_IP, sport: SNAT_PORT, daddr: B1, dport: 5353 }, POD0_MAC, B1_MAC)).toString('hex'));
    const bare = { ...dgram, sport: 40001, udpNoChecksum: true };
    await dp.maps.conntrack.deleteBatch((await dp.maps.conntrack.dump()).map(([k]) => k)); // free the one SNAT port
    const r2 = await run(buildPacket(bare));
    expect(r2.retval).toBe(XDP_REDIRECT);
    expect(r2.dataOut.toString('hex')).toBe(buildPacket(hop({ ...bare, saddr: NODE_IP, sport: SNAT_PORT, daddr: B1, dport: 5353 }, POD0_MAC, B1_MAC)).toString('hex'));
  });

  it('a LoadBalancer IP source outside loadBalancerSourceRanges is dropped and counted', async () => {
    cfg();
    seedService(dp.maps, { vip: LB_IP, port: 80, proto: TCP, svcId: 13, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_SRC_RANGE, backends: [{ id: 41, ip: B1, port: 9376 }] });
    dp.maps.srcRange.update({ prefixlen: abi.LB_SRC_SVC_BITS + 24, svcId: 13, addr: '198.19.251.0' }, { allowed: 1 });
    const before = stats().drops.source_range!;
    const r = await run(buildPacket({ ...syn, daddr: LB_IP, dport: 80 }));
    expect(r.retval).toBe(XDP_DROP);
    expect(stats().drops.source_range! - before).toBe(1);
    const ok = await run(buildPacket({ ...syn, saddr: '198.19.251.9', daddr: LB_IP, dport: 80 }));
    expect(ok.retval).toBe(XDP_REDIRECT);
  });

  // Everything else goes to tc_lb exactly as it came, and leaves no conntrack entry behind.
  const passCases: Array<{ name: string; seed: () => void; frame: () => Buffer }> = [
    { name: 'no frontend at that address:port', seed: () => nodePort(B1, CLUSTER), frame: () => buildPacket({ ...syn, dport: 30081 }) },
    {
      name: 'a ClusterIP (not north-south)',
      seed: () => seedService(dp.maps, { vip: '198.19.1.175', port: 80, proto: TCP, svcId: 7, backends: [{ id: 1, ip: B1, port: 9376 }] }),
      frame: () => buildPacket({ ...syn, daddr: '198.19.1.175', dport: 80 }),
    },
    {
      name: 'eTP Local without a local endpoint (tc_lb drops it)',
      seed: () => seedService(dp.maps, { vip: NODE_IP, port: 30080, proto: TCP, svcId: 11, flags: LOCAL | abi.SVC_F_DROP_EMPTY, backends: [] }),
      frame: () => buildPacket(syn),
    },
    { name: 'no endpoints at all (tc_lb rejects)', seed: () => seedService(dp.maps, { vip: NODE_IP, port: 30080, proto: TCP, svcId: 11, flags: CLUSTER, backends: [] }), frame: () => buildPacket(syn) },
    { name: 'a TCP segment of no tracked flow (tc_lb resets it)', seed: () => nodePort(B1, CLUSTER), frame: () => buildPacket({ ...syn, flags: TCP_ACK }) },
    { name: 'the endpoint has no route (FIB: not forwarded)', seed: () => nodePort(B_NO_ROUTE, CLUSTER), frame: () => buildPacket(syn) },
    { name: 'the endpoint neighbour is unresolved (tc_lb resolves it)', seed: () => nodePort(B_NO_NEIGH, CLUSTER), frame: () => buildPacket(syn) },
    { name: 'TTL 1', seed: () => nodePort(B1, CLUSTER), frame: () => buildPacket({ ...syn, ttl: 1 }) },
    { name: 'a fragment', seed: () => nodePort(B1, CLUSTER, undefined, UDP), frame: () => buildFragments({ ...syn, proto: UDP, payload: Buffer.alloc(64, 7) }, 32)[0]! },
    {
      name: 'ICMP',
      seed: () => nodePort(B1, CLUSTER),
      frame: () => buildIcmpError({ saddr: '198.19.200.254', daddr: NODE_IP, type: 3, code: 4, quoted: buildPacket(syn).subarray(14, 14 + 28) }),
    },
    {
      name: 'IP options',
      seed: () => nodePort(B1, CLUSTER),
      frame: () => {
        // Hand-built: a 24-byte IP header (one NOP option word), so the checksum is redone here.
        const p = buildPacket(syn);
        const out = Buffer.concat([p.subarray(0, 34), Buffer.from([1, 1, 1, 0]), p.subarray(34)]);
        out[14] = 0x46;
        out.writeUInt16BE(out.readUInt16BE(16) + 4, 16);
        return out;
      },
    },
    {
      name: 'IPv6',
      seed: () => nodePort(B1, CLUSTER),
      frame: () => {
        const f = Buffer.alloc(14 + 40 + 8);
        f.writeUInt16BE(0x86dd, 12);
        f[14] = 0x60;
        f.writeUInt16BE(8, 18);
        f[20] = UDP;
        f[21] = 64;
        return f;
      },
    },
  ];
  for (const c of passCases) {
    it(`passes to tc unchanged: ${c.name}`, async () => {
      cfg();
      c.seed();
      const frame = c.frame();
      const r = await run(frame);
      expect(r.retval).toBe(XDP_PASS);
      expect(r.dataOut.toString('hex')).toBe(frame.toString('hex'));
      expect(await dp.maps.conntrack.count()).toBe(0);
    });
  }

  it('a tracked flow whose backend left is passed to tc_lb (which resets it)', async () => {
    cfg();
    nodePort(B1, CLUSTER);
    expect((await run(buildPacket(syn))).retval).toBe(XDP_REDIRECT);
    dp.maps.backends.delete({ id: 21 });
    const ack = buildPacket({ ...syn, flags: TCP_ACK, seq: 5001 });
    const r = await run(ack);
    expect(r.retval).toBe(XDP_PASS);
    expect(r.dataOut.toString('hex')).toBe(ack.toString('hex'));
  });
});
