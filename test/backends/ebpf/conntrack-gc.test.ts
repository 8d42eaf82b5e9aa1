// Conntrack garbage collection: which entries are over (pure, on hand-built dumps), the
// conversion of entries from before CT_F_TIMED, and passes over the real map after flows
// went through tc_lb (BPF_PROG_TEST_RUN).
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { ConntrackGc, convertLegacy, lifetimeNs, monotonicNs, overEntries, partnerKey, type CtDump } from '../../../src/backends/ebpf/conntrack-gc.js';
import { BPF_ANY, addon, libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { Dataplane } from '../../../src/backends/ebpf/loader.js';
import { describeKernel } from '../../kernel-required.js';
import { seedService, useTestDataplane } from './fixtures.js';
import { TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, UDP, buildPacket, type PacketSpec } from './packets.js';
import { buildPacket6, type Packet6Spec } from './packets6.js';

const S = 1_000_000_000n;
const NOW = 1000n * S;
const CLIENT = '198.18.1.100';
const VIP = '198.19.1.175';
const B1 = '198.18.1.11';
const NODE_IP = '198.19.200.1';

type Entry = [abi.CtKey, abi.CtValue];

function dumpOf(entries: Entry[]): CtDump {
  const keys = Buffer.alloc(entries.length * abi.ctKey.size);
  const values = Buffer.alloc(entries.length * abi.ctValue.size);
  entries.forEach(([k, v], i) => {
    abi.ctKey.encode(k, keys, i * abi.ctKey.size);
    abi.ctValue.encode(v, values, i * abi.ctValue.size);
  });
  return { keys, values, count: entries.length };
}

/** The two entries tc_lb writes for client:cport → VIP:80 DNATed to B1:9376 (hand-written). */
function flow(cport: number, fwdExpires: bigint, revExpires: bigint, fwdFlags = 0, revFlags = 0): Entry[] {
  const base = { backendId: 1, svcId: 7, origAddr: '0.0.0.0', origPort: 0 };
  return [
    [{ saddr: CLIENT, daddr: VIP, sport: cport, dport: 80, proto: TCP },
      { ...base, expires: fwdExpires, natAddr: B1, natPort: 9376, flags: abi.CT_F_TIMED | abi.CT_F_FIB | fwdFlags }],
    [{ saddr: B1, daddr: CLIENT, sport: 9376, dport: cport, proto: TCP },
      { ...base, expires: revExpires, natAddr: VIP, natPort: 80, flags: abi.CT_F_TIMED | abi.CT_F_FIB | abi.CT_F_REPLY | revFlags }],
  ];
}

describe('conntrack GC decisions (pure)', () => {
  const live = NOW + 10n * S;
  const past = NOW - S;

  it('a flow is over only when both entries are expired, or either saw an RST', () => {
    const d = dumpOf([
      ...flow(1, live, live), // 0,1 live
      ...flow(2, past, live), // 2,3 one direction quiet: kept
      ...flow(3, past, past), // 4,5 over
      ...flow(4, live, live, abi.CT_F_DEAD), // 6,7 reset by the client: both go
      ...flow(5, live, past), // 8,9 kept
    ]);
    expect(overEntries(d, NOW)).toEqual([4, 5, 6, 7]);
  });

  it('an expired entry whose partner is missing or belongs to another flow is over; a live one stays', () => {
    const [fwd, rev] = flow(6, past, live);
    const other: Entry = [rev![0], { ...rev![1], svcId: 8 }]; // same tuple, another frontend's flow
    expect(overEntries(dumpOf([fwd!]), NOW)).toEqual([0]);
    expect(overEntries(dumpOf([fwd!, other]), NOW)).toEqual([0]);
    expect(overEntries(dumpOf([rev!]), NOW)).toEqual([]);
  });

  it('entries without CT_F_TIMED (older versions) are never judged', () => {
    const [fwd] = flow(7, past, past);
    expect(overEntries(dumpOf([[fwd![0], { ...fwd![1], flags: abi.CT_F_FIB }]]), NOW)).toEqual([]);
  });

  it("partner keys: SNATed flows pair through the allocated port", () => {
    const fk: abi.CtKey = { saddr: '198.19.250.7', daddr: NODE_IP, sport: 50000, dport: 30080, proto: TCP };
    const rk: abi.CtKey = { saddr: '198.18.2.11', daddr: NODE_IP, sport: 9376, dport: 61234, proto: TCP };
    const base = { expires: NOW, backendId: 21, svcId: 11 };
    const d = dumpOf([
      [fk, { ...base, natAddr: '198.18.2.11', natPort: 9376, origAddr: NODE_IP, origPort: 61234, flags: abi.CT_F_TIMED | abi.CT_F_HAIRPIN }],
      [rk, { ...base, natAddr: NODE_IP, natPort: 30080, origAddr: '198.19.250.7', origPort: 50000, flags: abi.CT_F_TIMED | abi.CT_F_HAIRPIN | abi.CT_F_REPLY }],
    ]);
    expect(abi.ctKey.decode(partnerKey(d.keys, d.values, 0))).toEqual(rk);
    expect(abi.ctKey.decode(partnerKey(d.keys, d.values, 1))).toEqual(fk);
  });

  it('converts entries written before CT_F_TIMED: direction from the key to the value, an expiry from now', () => {
    const legacy = dumpOf(flow(8, 5n, 5n).map(([k, v]) => [k, { ...v, flags: v.flags & ~(abi.CT_F_TIMED | abi.CT_F_REPLY) }]));
    legacy.keys[abi.ctKey.size + 13] = 1; // the reply entry's old CT_DIR_REPLY byte
    legacy.values.writeBigUInt64LE(123n, abi.ctValue.size + 8); // its old last_seen
    const out = convertLegacy(legacy, NOW).map((e) => [abi.ctKey.decode(e.key), abi.ctValue.decode(e.value), e.value.readBigUInt64LE(8)]);
    // TCP of unknown state: the established lifetime (6 h) from now.
    const [fwd, rev] = flow(8, NOW + 21600n * S, NOW + 21600n * S, abi.CT_F_ESTABLISHED, abi.CT_F_ESTABLISHED);
    expect(out).toEqual([[...fwd!, 0n], [...rev!, 0n]]);
    expect(convertLegacy(dumpOf(flow(9, 1n, 1n)), NOW)).toEqual([]);
  });
});

describeKernel('conntrack GC on the real map, after flows through tc_lb', () => {
  let dp: Dataplane;
  useTestDataplane((d) => (dp = d));

  const run = (spec: PacketSpec) => libbpf.testRun(dp.tc.fd, buildPacket(spec));
  const c2v = (sport: number, flags: number): PacketSpec => ({ saddr: CLIENT, daddr: VIP, proto: TCP, sport, dport: 80, flags, seq: 5000 });
  const b2c = (dport: number, flags: number): PacketSpec => ({ saddr: B1, daddr: CLIENT, proto: TCP, sport: 9376, dport, flags, seq: 1, ack: 5001 });
  const ports = async () => (await dp.maps.conntrack.dump()).filter(([, v]) => !(v.flags & abi.CT_F_REPLY)).map(([k]) => k.sport).sort();

  it('deletes closed flows after the close timeout and reset ones at once; an open flow lives 6 h; a quiet UDP flow 60 s', async () => {
    seedService(dp.maps, { vip: VIP, port: 80, proto: TCP, svcId: 7, backends: [{ id: 1, ip: B1, port: 9376 }] });
    seedService(dp.maps, { vip: VIP, port: 53, proto: UDP, svcId: 9, backends: [{ id: 2, ip: B1, port: 5353 }] });
    const handshake = async (p: number) => {
      await run(c2v(p, TCP_SYN));
      await run(b2c(p, TCP_SYN | TCP_ACK));
      await run(c2v(p, TCP_ACK));
    };
    await handshake(40001); // stays open
    await handshake(40002); // closed by both sides
    await run(c2v(40002, TCP_ACK | TCP_FIN));
    await run(b2c(40002, TCP_ACK | TCP_FIN));
    await run(c2v(40002, TCP_ACK));
    await handshake(40003); // reset by the backend
    await run(b2c(40003, TCP_RST));
    await run({ saddr: CLIENT, daddr: VIP, proto: UDP, sport: 40004, dport: 53 });
    const gc = new ConntrackGc(dp.maps.conntrack);
    const t = monotonicNs();

    expect(await gc.collect(t)).toMatchObject({ scanned: 8, deleted: 2 });
    expect(await ports()).toEqual([40001, 40002, 40004]);
    expect(await gc.collect(t + 11n * S)).toMatchObject({ scanned: 6, deleted: 2 });
    expect(await ports()).toEqual([40001, 40004]);
    expect(await gc.collect(t + 61n * S)).toMatchObject({ deleted: 2 });
    expect(await ports()).toEqual([40001]);
    expect(await gc.collect(t + 6n * 3600n * S - 10n * S)).toMatchObject({ deleted: 0 });
    expect(await gc.collect(t + 6n * 3600n * S + 10n * S)).toMatchObject({ scanned: 2, deleted: 2 });
    expect(gc.totals).toMatchObject({ passes: 5, deleted: 8 });
  });

  it('conntrack6 in the same pass: a reset IPv6 flow goes at once, a hairpin-SNATed open one stays until its lifetime ends', async () => {
    const VIP6 = '2001:db8:19::b', C6 = '2001:db8:18:1::64', B6 = '2001:db8:18:1::b', HAIRPIN6 = '2001:db8:19:ffff::1';
    seedService(dp.maps, { vip: VIP6, port: 80, proto: TCP, svcId: 17, backends: [{ id: 11, ip: B6, port: 9376 }] });
    dp.maps.config6.update({ id: 0 }, { hairpinAddr: HAIRPIN6, snatAddr: '::', nodeAddr: '::' });
    const run6 = (spec: Packet6Spec) => libbpf.testRun(dp.tc.fd, buildPacket6(spec));
    await run6({ saddr: C6, daddr: VIP6, proto: TCP, sport: 41001, dport: 80, flags: TCP_SYN, seq: 1 }); // stays
    await run6({ saddr: C6, daddr: VIP6, proto: TCP, sport: 41002, dport: 80, flags: TCP_SYN, seq: 1 });
    await run6({ saddr: B6, daddr: C6, proto: TCP, sport: 9376, dport: 41002, flags: TCP_RST, seq: 1 }); // reset
    await run6({ saddr: B6, daddr: VIP6, proto: TCP, sport: 41003, dport: 80, flags: TCP_SYN, seq: 1 }); // hairpin: SNATed
    const v6 = async () => (await dp.maps.conntrack6.dump()).filter(([, v]) => !(v.flags & abi.CT_F_REPLY)).map(([k]) => k.sport).sort();
    expect(await v6()).toEqual([41001, 41002, 41003]);
    const gc = new ConntrackGc(dp.maps.conntrack, undefined, undefined, dp.maps.conntrack6);
    const t = monotonicNs();
    expect(await gc.collect(t)).toMatchObject({ scanned: 6, deleted: 2 });
    expect(await v6()).toEqual([41001, 41003]);
    // Past the SYN lifetime: both remaining flows (the SNATed one paired through its port) go whole.
    expect(await gc.collect(t + 61n * S)).toMatchObject({ scanned: 4, deleted: 4 });
    expect(await dp.maps.conntrack6.dump()).toEqual([]);
  });

  it('converts entries of the previous layout in the map, and the next pass removes their old reply keys', async () => {
    seedService(dp.maps, { vip: VIP, port: 80, proto: TCP, svcId: 7, backends: [{ id: 1, ip: B1, port: 9376 }] });
    // What the previous version wrote for one flow: direction in key byte 13, created/last_seen.
    const legacy = dumpOf(flow(41000, 5n, 5n).map(([k, v]) => [k, { ...v, flags: abi.CT_F_FIB }]));
    legacy.keys[abi.ctKey.size + 13] = 1;
    for (let i = 0; i < 2; i++)
      addon().mapUpdate(dp.maps.conntrack.fd, legacy.keys.subarray(i * 16, i * 16 + 16), legacy.values.subarray(i * 40, i * 40 + 40), BPF_ANY);
    const gc = new ConntrackGc(dp.maps.conntrack);
    expect(await gc.convert()).toBe(2);
    // The converted flow works in the new programs: the reply is reverse-NATed.
    const r = await run(b2c(41000, TCP_ACK));
    expect(r.retval).not.toBe(2);
    expect(r.dataOut.subarray(26, 30).join('.')).toBe(VIP);
    expect(await gc.collect()).toMatchObject({ scanned: 3, deleted: 1 }); // the old reply key
    expect(await gc.convert()).toBe(0);
    expect((await dp.maps.conntrack.dump()).length).toBe(2);
  });
}, { btf: true });
