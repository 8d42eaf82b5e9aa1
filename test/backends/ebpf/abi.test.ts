// C and TS must agree on every struct: sizes and field offsets come from the addon, which
// compiles bpf/include/abi.h; the codecs in src/backends/ebpf/abi.ts must match them exactly.
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { addon, addonAvailable } from '../../../src/backends/ebpf/libbpf.js';
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
      STAT_DROP_UNANSWERED: abi.STAT_DROP_UNANSWERED, STAT_ICMP_ERROR: abi.STAT_ICMP_ERROR, STAT_XDP_NEW: abi.STAT_XDP_NEW, STAT_XDP_ESTABLISHED: abi.STAT_XDP_ESTABLISHED, BPFPROXY_STATS_MAX: abi.STATS_MAX, SVC_KIND_NODE_PORT: abi.SVC_KIND_NODE_PORT,
      CT_F_HAIRPIN: abi.CT_F_HAIRPIN, CT_F_REPLY: abi.CT_F_REPLY, CT_F_FIB: abi.CT_F_FIB,
      SVC_KIND_CLUSTER_IP: abi.SVC_KIND_CLUSTER_IP, SVC_KIND_EXTERNAL_IP: abi.SVC_KIND_EXTERNAL_IP,
      SVC_KIND_LOAD_BALANCER: abi.SVC_KIND_LOAD_BALANCER, BPFPROXY_TC_HANDLE: abi.TC_HANDLE, BPFPROXY_TC_PRIORITY: abi.TC_PRIORITY,
      BPFPROXY_SOCK_GONE_MAX: abi.SOCK_GONE_MAX,
    });
  });
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
  });
});
