// C and TS must agree on every struct: sizes and field offsets come from the addon, which
// compiles bpf/include/abi.h; the codecs in src/backends/ebpf/abi.ts must match them exactly.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { REPO_ROOT, addon, addonAvailable } from '../../../src/backends/ebpf/libbpf.js';
import { kernelRequired } from '../../kernel-required.js';

const haveAddon = addonAvailable();
// The addon is a build product, not a kernel feature: required in CI, skipped locally if absent.
const d = haveAddon || kernelRequired ? describe : describe.skip;

d('abi.h ↔ abi.ts layout', () => {
  const layout = haveAddon ? addon().abiLayout() : {};
  const structs = abi.STRUCTS.filter((s) => s.name !== 'u32');

  it('the addon knows every struct the codecs define, and vice versa', () => {
    expect(Object.keys(layout).sort()).toEqual(structs.map((s) => s.name).sort());
  });

  for (const codec of structs) {
    it(`${codec.name}: size and every field offset/size`, () => {
      const c = layout[codec.name]!;
      expect(codec.size).toBe(c.size);
      const ts = Object.fromEntries(codec.fields.map((f) => [f.c, { offset: f.offset, size: f.size }]));
      expect(ts).toEqual(c.fields);
    });
  }

  it('constants match', () => {
    const k = addon().abiConstants();
    expect(k).toMatchObject({
      SVC_F_AFFINITY: abi.SVC_F_AFFINITY, SVC_F_EXTERNAL: abi.SVC_F_EXTERNAL,
      BE_F_ACTIVE: abi.BE_F_ACTIVE, BE_F_TERMINATING: abi.BE_F_TERMINATING, BE_F_REMOTE: abi.BE_F_REMOTE, BE_F_ACTIVE_EXT: abi.BE_F_ACTIVE_EXT,
      SVC_F_NODEPORT: abi.SVC_F_NODEPORT, SVC_F_DROP_EMPTY: abi.SVC_F_DROP_EMPTY, SVC_F_SNAT_ALL: abi.SVC_F_SNAT_ALL,
      SVC_F_SRC_RANGE: abi.SVC_F_SRC_RANGE, SVC_F_LOCALHOST: abi.SVC_F_LOCALHOST, STAT_DROP_SRC_RANGE: abi.STAT_DROP_SRC_RANGE,
      STAT_PASS_V6_EXTHDR: abi.STAT_PASS_V6_EXTHDR,
      SVC_F_MAGLEV: abi.SVC_F_MAGLEV, BPFPROXY_MAGLEV_MAX: abi.MAGLEV_MAX, BPFPROXY_MAGLEV_INNER_FLAGS: abi.MAGLEV_INNER_FLAGS,
      BPFPROXY_MAGLEV_SIZE_DEFAULT: abi.MAGLEV_SIZE_DEFAULT, BPFPROXY_MAGLEV_SIZE_MIN: abi.MAGLEV_SIZE_MIN, BPFPROXY_MAGLEV_SIZE_MAX: abi.MAGLEV_SIZE_MAX,
      BPFPROXY_LB_SRC_MAX: abi.LB_SRC_MAX, BPFPROXY_LB_SRC_SVC_BITS: abi.LB_SRC_SVC_BITS,
      BPFPROXY_SNAT_PORT_MIN: abi.SNAT_PORT_MIN, BPFPROXY_SNAT_PORT_MAX: abi.SNAT_PORT_MAX,
      CT_F_CLOSING: abi.CT_F_CLOSING, CT_F_DEAD: abi.CT_F_DEAD, BPFPROXY_CT_CLOSE_TIMEOUT_S: abi.CT_CLOSE_TIMEOUT_S,
      BPFPROXY_CT_TCP_TIMEOUT_S: abi.CT_TCP_TIMEOUT_S, BPFPROXY_CT_UDP_TIMEOUT_S: abi.CT_UDP_TIMEOUT_S,
      BPFPROXY_CT_SYN_TIMEOUT_S: abi.CT_SYN_TIMEOUT_S, BPFPROXY_CT_RENEW_NS: Number(abi.CT_RENEW_NS),
      CT_F_ESTABLISHED: abi.CT_F_ESTABLISHED, CT_F_TIMED: abi.CT_F_TIMED,
      STAT_NEW: abi.STAT_NEW, STAT_ESTABLISHED: abi.STAT_ESTABLISHED, STAT_REPLY: abi.STAT_REPLY,
      STAT_REJECTED: abi.STAT_REJECTED, STAT_RESET: abi.STAT_RESET, STAT_DROP_NO_BACKEND: abi.STAT_DROP_NO_BACKEND,
      STAT_DROP_NO_LOCAL_EP: abi.STAT_DROP_NO_LOCAL_EP, STAT_DROP_NAT: abi.STAT_DROP_NAT,
      STAT_DROP_SNAT_PORTS: abi.STAT_DROP_SNAT_PORTS, STAT_DROP_CT: abi.STAT_DROP_CT, STAT_DROP_FIB: abi.STAT_DROP_FIB,
      STAT_DROP_UNANSWERED: abi.STAT_DROP_UNANSWERED, STAT_ICMP_ERROR: abi.STAT_ICMP_ERROR, XDP_CFG_F_LOCAL_REDIRECT: abi.XDP_CFG_F_LOCAL_REDIRECT, STAT_XDP_NEW: abi.STAT_XDP_NEW, STAT_XDP_ESTABLISHED: abi.STAT_XDP_ESTABLISHED, BPFPROXY_STATS_MAX: abi.STATS_MAX, SVC_KIND_NODE_PORT: abi.SVC_KIND_NODE_PORT,
      CT_F_HAIRPIN: abi.CT_F_HAIRPIN, CT_F_REPLY: abi.CT_F_REPLY, CT_F_FIB: abi.CT_F_FIB,
      SVC_KIND_CLUSTER_IP: abi.SVC_KIND_CLUSTER_IP, SVC_KIND_EXTERNAL_IP: abi.SVC_KIND_EXTERNAL_IP,
      SVC_KIND_LOAD_BALANCER: abi.SVC_KIND_LOAD_BALANCER, BPFPROXY_TC_HANDLE: abi.TC_HANDLE, BPFPROXY_TC_PRIORITY: abi.TC_PRIORITY,
      BPFPROXY_SOCK_GONE_MAX: abi.SOCK_GONE_MAX,
    });
  });
});

// The same check against what clang -target bpf laid out: the BTF of the built objects (read
// with bpftool), so a struct the BPF compiler pads differently from g++ fails here too.
const OBJECTS = ['tc_lb.bpf.o', 'sock_lb.bpf.o', 'sock_destroy.bpf.o'].map((f) => path.join(REPO_ROOT, 'bpf/.output', f));
const haveObjects = OBJECTS.every((f) => existsSync(f));
(haveObjects || kernelRequired ? describe : describe.skip)('abi.h ↔ abi.ts layout in the BPF objects\' BTF', () => {
  interface BtfStruct { kind: string; name: string; size: number; members: Array<{ name: string; bits_offset: number }> }
  const btf = new Map<string, BtfStruct>();
  for (const f of haveObjects ? OBJECTS : []) {
    const { types } = JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', f], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { types: BtfStruct[] };
    for (const t of types) if (t.kind === 'STRUCT' && t.name) btf.set(t.name, t);
  }
  // The records the iterators write are never a map key or value: not in BTF.
  for (const codec of abi.STRUCTS.filter((s) => s.name !== 'u32' && s.name !== 'sock_destroyed' && s.name !== 'sock_destroyed6')) {
    it(`${codec.name}: size and field offsets as compiled for BPF`, () => {
      const t = btf.get(codec.name);
      expect(t, `${codec.name} in the objects' BTF`).toBeDefined();
      expect(codec.size).toBe(t!.size);
      expect(Object.fromEntries(codec.fields.map((f) => [f.c, f.offset]))).toEqual(Object.fromEntries(t!.members.map((m) => [m.name, m.bits_offset / 8])));
    });
  }
});

describe('abi codecs', () => {
  it('round-trips values and writes network order where abi.h says __be', () => {
    const k = abi.svcKey.encode({ vip: '198.19.1.175', port: 80, proto: 6, slot: 3 });
    expect([...k]).toEqual([198, 19, 1, 175, 0, 80, 6, 0, 3, 0, 0, 0]);
    expect(abi.svcKey.decode(k)).toEqual({ vip: '198.19.1.175', port: 80, proto: 6, slot: 3 });
    const ct: abi.CtValue = {
      expires: 2n ** 63n, backendId: 0xffffffff, svcId: 5, natAddr: '1.2.3.4',
      origAddr: '0.0.0.0', natPort: 65535, flags: 3, origPort: 61000,
    };
    expect(abi.ctValue.decode(abi.ctValue.encode(ct))).toEqual(ct);
  });

  it('encodes into a shared buffer at an offset and zeroes padding', () => {
    const buf = Buffer.alloc(32, 0xff);
    abi.revNatValue.encode({ vip: '10.0.0.1', port: 443 }, buf, 8);
    expect([...buf.subarray(8, 16)]).toEqual([10, 0, 0, 1, 1, 187, 0, 0]);
    expect(buf[7]).toBe(0xff);
  });

  it('strings are NUL padded and must leave room for the NUL', () => {
    const b = abi.svcMeta.encode({ name: 'default/hostnames', kind: abi.SVC_KIND_CLUSTER_IP });
    expect(b.length).toBe(256);
    expect(abi.svcMeta.decode(b)).toEqual({ name: 'default/hostnames', kind: 1 });
    expect(() => abi.svcMeta.encode({ name: 'x'.repeat(248), kind: 1 })).toThrow(/fit/);
  });

  it('maglev_config is two host-order words', () => {
    expect([...abi.maglevConfig.encode({ tableSize: 16381, flowSeed: 0x01020304 })]).toEqual([0xfd, 0x3f, 0, 0, 4, 3, 2, 1]);
  });

  it('sock_destroyed: cookie, backend and a negative errno as the iterators write them', () => {
    const rec: abi.SockDestroyed = { cookie: 0x1_0000_0002n, addr: '198.18.1.11', port: 9376, proto: abi.PROTO_UDP, svcId: 7, err: -2 };
    const b = abi.sockDestroyed.encode(rec);
    expect([...b.subarray(8, 16)]).toEqual([198, 18, 1, 11, 0x24, 0xa0, 17, 0]);
    expect(b.readInt32LE(20)).toBe(-2);
    expect(abi.sockDestroyed.decode(b)).toEqual(rec);
    expect([...abi.sockGoneKey.encode({ addr: '198.18.1.11', port: 9376, proto: abi.PROTO_TCP, svcId: 0x01020304 })]).toEqual([198, 18, 1, 11, 0x24, 0xa0, 6, 0, 4, 3, 2, 1]);
  });

  it('rejects malformed addresses', () => {
    expect(() => abi.svcKey.encode({ vip: '2001:db8::1', port: 1, proto: 6, slot: 0 })).toThrow(/IPv4/);
    for (const bad of ['198.19.1.175', '2001:db8::1::2', '2001:db8:0:0:0:0:0:0:1', '[2001:db8::1]', 'fe80::1%eth0', 'g::1', ''])
      expect(() => abi.svc6Key.encode({ vip: bad, port: 1, proto: 6, slot: 0 })).toThrow(/IPv6/);
  });

  // Byte layouts written out by hand from RFC 4291 2.2 (text forms) and abi.h.
  it('IPv6 addresses: 16 network-order bytes from every text form, read back in RFC 5952 form', () => {
    const k = abi.svc6Key.encode({ vip: '2001:DB8:19:0:0:0:0:B', port: 80, proto: 6, slot: 2 });
    expect([...k]).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b, 0, 80, 6, 0, 2, 0, 0, 0]);
    expect(abi.svc6Key.decode(k)).toEqual({ vip: '2001:db8:19::b', port: 80, proto: 6, slot: 2 });
    const cases: Array<[string, string]> = [
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal zero runs (RFC 5952 4.2.3)
      ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not "::" (4.2.2)
      ['::', '::'], ['::1', '::1'],
      ['::ffff:198.18.1.11', '::ffff:c612:10b'], // embedded IPv4 (RFC 4291 2.5.5.2), read back in hex
    ];
    for (const [text, canonical] of cases) expect(abi.canonicalIp6(text)).toBe(canonical);
    const b = Buffer.alloc(16);
    abi.ip6ToBytes('::ffff:198.18.1.11', b, 0);
    expect([...b]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 1, 11]);
  });

  it('ct6 entries round-trip with both addresses and ports in place', () => {
    const key: abi.CtKey = { saddr: '2001:db8:18:1::64', daddr: '2001:db8:19::b', sport: 40000, dport: 80, proto: 6 };
    const kb = abi.ct6Key.encode(key);
    expect(kb.length).toBe(40);
    expect([...kb.subarray(32, 40)]).toEqual([0x9c, 0x40, 0, 80, 6, 0, 0, 0]);
    expect(abi.ct6Key.decode(kb)).toEqual(key);
    const v: abi.CtValue = { expires: 5n, backendId: 3, svcId: 4, natAddr: '2001:db8:18:2::b', origAddr: '::', natPort: 9376, flags: abi.CT_F_REPLY, origPort: 0 };
    expect(abi.ct6Value.decode(abi.ct6Value.encode(v))).toEqual(v);
  });
});
