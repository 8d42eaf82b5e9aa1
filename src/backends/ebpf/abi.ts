// TS side of bpf/include/abi.h: one codec per struct, defined by the same field offsets as the
// C header. test/backends/ebpf/abi.test.ts compares every offset/size with what the addon
// compiled from abi.h, so a change on one side fails the tests until the other follows.
import { endianness } from 'node:os';

if (endianness() !== 'LE') throw new Error('bpfproxy ABI codecs assume a little-endian host');

/** How a field is stored: host-order integers, network-order port, IPv4 / IPv6 address, zero padding. */
export type FieldKind = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 'be16' | 'ip4' | 'ip6' | 'str' | 'pad';

export interface FieldSpec {
  /** Field name in abi.h. */
  c: string;
  /** Property name in the TS value (absent for padding). */
  prop?: string;
  offset: number;
  size: number;
  kind: FieldKind;
}

export interface StructCodec<T> {
  /** Struct name in abi.h. */
  readonly name: string;
  readonly size: number;
  readonly fields: readonly FieldSpec[];
  encode(value: T, into?: Buffer, at?: number): Buffer;
  decode(buf: Buffer, at?: number): T;
}

const KIND_SIZE: Record<Exclude<FieldKind, 'pad' | 'str'>, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, be16: 2, ip4: 4, ip6: 16 };

/** [C name, offset, kind, size (pad/str fields) or TS property name when not camelCase(C name)] */
type Spec = [c: string, offset: number, kind: FieldKind, sizeOrProp?: number | string];

export function ip4ToBytes(ip: string, buf: Buffer, at: number): void {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  for (let i = 0; i < 4; i++) {
    const n = Number(parts[i]);
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`not an IPv4 address: ${ip}`);
    buf[at + i] = n;
  }
}

export function bytesToIp4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/**
 * IPv6 text → 16 bytes at `at`. Parsed by the WHATWG URL parser (every RFC 4291 text form,
 * embedded IPv4 included, nothing else): no hand-written parser to get wrong.
 */
export function ip6ToBytes(ip: string, buf: Buffer, at: number): void {
  let host: string;
  try {
    if (ip.includes('[') || ip.includes(']') || ip.includes('%')) throw new Error('bracket or zone');
    host = new URL(`http://[${ip}]/`).hostname;
  } catch {
    throw new Error(`not an IPv6 address: ${ip}`);
  }
  // The serialised form: hex groups, at most one "::".
  const inner = host.slice(1, -1);
  const [head, tail] = inner.includes('::') ? inner.split('::') as [string, string] : [inner, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => buf.writeUInt16BE(parseInt(g, 16), at + 2 * i));
}

/** 16 bytes → the canonical text (RFC 5952: lower case, longest zero run as "::"), as the URL
 * serialiser writes it. */
export function bytesToIp6(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + 2 * i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** The canonical text of an IPv6 address (what the maps read back), or an error naming it. */
export function canonicalIp6(ip: string): string {
  const b = Buffer.alloc(16);
  ip6ToBytes(ip, b, 0);
  return bytesToIp6(b, 0);
}

function snakeToCamel(s: string): string {
  return s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function defineStruct<T>(name: string, size: number, specs: Spec[]): StructCodec<T> {
  const fields: FieldSpec[] = specs.map(([c, offset, kind, extra]) => {
    if (kind === 'pad') return { c, offset, size: extra as number, kind };
    const prop = typeof extra === 'string' ? extra : snakeToCamel(c);
    return { c, prop, offset, size: kind === 'str' ? (extra as number) : KIND_SIZE[kind], kind };
  });
  return {
    name,
    size,
    fields,
    encode(value: T, into?: Buffer, at = 0): Buffer {
      const buf = into ?? Buffer.alloc(size);
      if (into) buf.fill(0, at, at + size);
      const v = value as Record<string, unknown>;
      for (const f of fields) {
        if (f.kind === 'pad') continue;
        const x = v[f.prop!];
        const o = at + f.offset;
        switch (f.kind) {
          case 'u8': buf.writeUInt8(x as number, o); break;
          case 'u16': buf.writeUInt16LE(x as number, o); break;
          case 'u32': buf.writeUInt32LE(x as number, o); break;
          case 's32': buf.writeInt32LE(x as number, o); break;
          case 'u64': buf.writeBigUInt64LE(BigInt(x as bigint | number), o); break;
          case 'be16': buf.writeUInt16BE(x as number, o); break;
          case 'ip4': ip4ToBytes(x as string, buf, o); break;
          case 'ip6': ip6ToBytes(x as string, buf, o); break;
          case 'str': {
            const b = Buffer.from(x as string, 'utf8');
            if (b.length >= f.size) throw new Error(`${name}.${f.c}: ${b.length} bytes do not fit in ${f.size - 1}`);
            b.copy(buf, o);
            break;
          }
        }
      }
      return buf;
    },
    decode(buf: Buffer, at = 0): T {
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        const o = at + f.offset;
        switch (f.kind) {
          case 'pad': break;
          case 'u8': out[f.prop!] = buf.readUInt8(o); break;
          case 'u16': out[f.prop!] = buf.readUInt16LE(o); break;
          case 'u32': out[f.prop!] = buf.readUInt32LE(o); break;
          case 's32': out[f.prop!] = buf.readInt32LE(o); break;
          case 'u64': out[f.prop!] = buf.readBigUInt64LE(o); break;
          case 'be16': out[f.prop!] = buf.readUInt16BE(o); break;
          case 'ip4': out[f.prop!] = bytesToIp4(buf, o); break;
          case 'ip6': out[f.prop!] = bytesToIp6(buf, o); break;
          case 'str': {
            const raw = buf.subarray(o, o + f.size);
            const nul = raw.indexOf(0);
            out[f.prop!] = raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
            break;
          }
        }
      }
      return out as T;
    },
  };
}

// ---- constants (abi.h) ----
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const SVC_F_AFFINITY = 1 << 0;
export const SVC_F_EXTERNAL = 1 << 1;
export const SVC_F_NODEPORT = 1 << 2;
export const SVC_F_DROP_EMPTY = 1 << 3;
/** externalTrafficPolicy Cluster: SNAT every external flow, not only those to remote backends. */
export const SVC_F_SNAT_ALL = 1 << 4;
/** LB IP of a Service with loadBalancerSourceRanges: new flows only from sources in lb_src_range. */
export const SVC_F_SRC_RANGE = 1 << 5;
/** 127.0.0.1:nodePort (localhost NodePorts): served by the socket LB only, never by tc. */
export const SVC_F_LOCALHOST = 1 << 6;
/** New flows (tc) take their backend from the frontend's maglev table, not a random slot. */
export const SVC_F_MAGLEV = 1 << 7;
export const BE_F_ACTIVE = 1 << 0;
export const BE_F_TERMINATING = 1 << 1;
export const BE_F_REMOTE = 1 << 2;
export const BE_F_ACTIVE_EXT = 1 << 3;
export const CT_F_HAIRPIN = 1 << 0;
/** The reply entry of its flow (else the forward entry): the direction lives in the value. */
export const CT_F_REPLY = 1 << 1;
export const CT_F_FIB = 1 << 2;
export const CT_F_CLOSING = 1 << 3;
export const CT_F_DEAD = 1 << 4;
export const CT_F_ESTABLISHED = 1 << 5;
/** `expires` is set; entries written by older versions lack it (conntrack-gc.ts converts them). */
export const CT_F_TIMED = 1 << 6;
/** Conntrack lifetimes (abi.h BPFPROXY_CT_*_TIMEOUT_S), renewed by each packet of a direction. */
export const CT_SYN_TIMEOUT_S = 60;
export const CT_TCP_TIMEOUT_S = 21600;
export const CT_CLOSE_TIMEOUT_S = 10;
export const CT_UDP_TIMEOUT_S = 60;
export const CT_RENEW_NS = 1_000_000_000n;
export const SVC_KIND_CLUSTER_IP = 1;
export const SVC_KIND_EXTERNAL_IP = 2;
export const SVC_KIND_LOAD_BALANCER = 3;
export const SVC_KIND_NODE_PORT = 4;
export const SVC_NAME_LEN = 248;
/** Default SNAT source port range: above Linux's default ephemeral ports (32768–60999). */
export const SNAT_PORT_MIN = 61000;
export const SNAT_PORT_MAX = 65535;
/** dp_stats indexes (abi.h STAT_*): packets by path, then drops by reason. */
export const STAT_NEW = 0;
export const STAT_ESTABLISHED = 1;
export const STAT_REPLY = 2;
export const STAT_REJECTED = 3;
export const STAT_RESET = 4;
export const STAT_DROP_NO_BACKEND = 5;
export const STAT_DROP_NO_LOCAL_EP = 6;
export const STAT_DROP_NAT = 7;
export const STAT_DROP_SNAT_PORTS = 8;
export const STAT_DROP_CT = 9;
export const STAT_DROP_FIB = 10;
export const STAT_DROP_UNANSWERED = 11;
export const STAT_ICMP_ERROR = 12;
export const STAT_DROP_SRC_RANGE = 13;
/** IPv6 packet with an extension header: passed to the stack untranslated. */
export const STAT_PASS_V6_EXTHDR = 14;
/** Handled by xdp_lb itself (new flow / tracked forward packet). */
export const STAT_XDP_NEW = 15;
export const STAT_XDP_ESTABLISHED = 16;
export const STATS_MAX = 32;
export const TC_HANDLE = 0xb9f1;
export const TC_PRIORITY = 0xb9f;
/** lb_src_range: entries (abi.h BPFPROXY_LB_SRC_MAX) and the svc_id bits every prefix covers. */
export const LB_SRC_MAX = 65536;
export const LB_SRC_SVC_BITS = 32;
/** maglev (HASH_OF_MAPS svc_id → inner table) entries; tables are ARRAYs created with these flags (BPF_F_INNER_MAP). */
export const MAGLEV_MAX = 65536;
export const MAGLEV_INNER_FLAGS = 1 << 12;
/** Maglev table size M: default and accepted range (all prime). */
export const MAGLEV_SIZE_DEFAULT = 16381;
export const MAGLEV_SIZE_MIN = 251;
export const MAGLEV_SIZE_MAX = 131071;
/** sock_gone (sock_destroy.bpf.o's own map): {backend, frontend} pairs one socket-destroy run looks for. */
export const SOCK_GONE_MAX = 65536;
/** bpf_map_type values the controller creates maps of itself. */
export const BPF_MAP_TYPE_ARRAY = 2;

export const MAP_NAMES = [
  'services', 'backends', 'rev_nat', 'conntrack', 'affinity', 'lb_config', 'sock_rev', 'svc_meta', 'dp_stats', 'frag4', 'id_alloc', 'lb_src_range',
  'maglev', 'maglev_cfg', 'sock_lb_cfg', 'sock_gone', 'xdp_cfg',
  'services6', 'backends6', 'rev_nat6', 'conntrack6', 'affinity6', 'lb6_config', 'sock_rev6', 'sock_gone6',
] as const;
export type MapName = (typeof MAP_NAMES)[number];
/** Maps whose size `--bpf-map-sizes` may set; the others are fixed by abi.h. */
export const SIZED_MAPS = ['services', 'backends', 'rev_nat', 'svc_meta', 'conntrack', 'affinity'] as const;
export type MapSizes = Partial<Record<(typeof SIZED_MAPS)[number], number>>;
/** The IPv6 twin of each sized map: created with the same size as its IPv4 map. */
export const V6_TWIN: Partial<Record<(typeof SIZED_MAPS)[number], MapName>> = {
  services: 'services6', backends: 'backends6', rev_nat: 'rev_nat6', conntrack: 'conntrack6', affinity: 'affinity6',
};

// ---- structs ----
export interface SvcKey { vip: string; port: number; proto: number; slot: number }
export interface SvcValue { backendId: number; svcId: number; count: number; flags: number; affinityTimeout: number }
export interface BackendValue { ip: string; port: number; proto: number; flags: number; spId: number }
export interface RevNatValue { vip: string; port: number }
export interface CtKey { saddr: string; daddr: string; sport: number; dport: number; proto: number }
export interface CtValue {
  /** CLOCK_MONOTONIC ns (bpf_ktime_get_coarse_ns) after which the entry is over unless renewed. */
  expires: bigint; backendId: number; svcId: number;
  natAddr: string; origAddr: string; natPort: number; flags: number;
  /** forward: allocated SNAT source port; reply: client port restored with origAddr. */
  origPort: number;
}
export interface AffinityKey { svcId: number; client: string }
export interface AffinityValue { lastUsed: bigint; backendId: number }
/** snatPortMin 0 = the default range (SNAT_PORT_MIN..MAX). */
/** nodeAddr: the node's primary IPv4 address (the socket LB's source for range checks), 0.0.0.0 = unknown. */
export interface LbConfig { hairpinAddr: string; snatAddr: string; snatPortMin: number; snatPortMax: number; nodeAddr: string }
export interface SockRevKey { cookie: bigint; addr: string; port: number }
export interface SockRevValue { vip: string; port: number; svcId: number }
export interface SvcMeta { name: string; kind: number }
export interface U32Key { id: number }

export const svcKey = defineStruct<SvcKey>('svc_key', 12, [
  ['vip', 0, 'ip4'], ['dport', 4, 'be16', 'port'], ['proto', 6, 'u8'], ['pad0', 7, 'pad', 1],
  ['slot', 8, 'u16'], ['pad1', 10, 'pad', 2],
]);
export const svcValue = defineStruct<SvcValue>('svc_value', 16, [
  ['backend_id', 0, 'u32'], ['svc_id', 4, 'u32'], ['count', 8, 'u16'], ['flags', 10, 'u16'],
  ['affinity_timeout', 12, 'u32'],
]);
export const backendValue = defineStruct<BackendValue>('backend_value', 12, [
  ['ip', 0, 'ip4'], ['port', 4, 'be16'], ['proto', 6, 'u8'], ['flags', 7, 'u8'], ['sp_id', 8, 'u32'],
]);
export const revNatValue = defineStruct<RevNatValue>('rev_nat_value', 8, [
  ['vip', 0, 'ip4'], ['port', 4, 'be16'], ['pad0', 6, 'pad', 2],
]);
export const ctKey = defineStruct<CtKey>('ct_key', 16, [
  ['saddr', 0, 'ip4'], ['daddr', 4, 'ip4'], ['sport', 8, 'be16'], ['dport', 10, 'be16'],
  ['proto', 12, 'u8'], ['pad0', 13, 'pad', 1], ['pad1', 14, 'pad', 2],
]);
export const ctValue = defineStruct<CtValue>('ct_value', 40, [
  ['expires', 0, 'u64'], ['pad1', 8, 'pad', 8], ['backend_id', 16, 'u32'], ['svc_id', 20, 'u32'],
  ['nat_addr', 24, 'ip4'], ['orig_addr', 28, 'ip4'], ['nat_port', 32, 'be16'], ['flags', 34, 'u16'],
  ['orig_port', 36, 'be16'], ['pad0', 38, 'pad', 2],
]);
export const affinityKey = defineStruct<AffinityKey>('affinity_key', 8, [
  ['svc_id', 0, 'u32'], ['client', 4, 'ip4'],
]);
export const affinityValue = defineStruct<AffinityValue>('affinity_value', 16, [
  ['last_used', 0, 'u64'], ['backend_id', 8, 'u32'], ['pad0', 12, 'pad', 4],
]);
export const lbConfig = defineStruct<LbConfig>('lb_config', 16, [
  ['hairpin_addr', 0, 'ip4'], ['snat_addr', 4, 'ip4'], ['snat_port_min', 8, 'u16'], ['snat_port_max', 10, 'u16'],
  ['node_addr', 12, 'ip4'],
]);
export const sockRevKey = defineStruct<SockRevKey>('sock_rev_key', 16, [
  ['cookie', 0, 'u64'], ['addr', 8, 'ip4'], ['port', 12, 'be16'], ['pad0', 14, 'pad', 2],
]);
export const sockRevValue = defineStruct<SockRevValue>('sock_rev_value', 16, [
  ['vip', 0, 'ip4'], ['port', 4, 'be16'], ['pad0', 6, 'pad', 2], ['svc_id', 8, 'u32'], ['pad1', 12, 'pad', 4],
]);
export const svcMeta = defineStruct<SvcMeta>('svc_meta', 256, [
  ['name', 0, 'str', 248], ['kind', 248, 'u32'], ['pad0', 252, 'pad', 4],
]);
/** frag4: the ports of a fragmented datagram (tc_lb only; read by tests and bpftool). */
export interface FragKey { saddr: string; daddr: string; id: number; proto: number }
export interface FragValue { sport: number; dport: number }
export const fragKey = defineStruct<FragKey>('frag_key', 12, [
  ['saddr', 0, 'ip4'], ['daddr', 4, 'ip4'], ['id', 8, 'be16'], ['proto', 10, 'u8'], ['pad0', 11, 'pad', 1],
]);
export const fragValue = defineStruct<FragValue>('frag_value', 4, [['sport', 0, 'be16'], ['dport', 2, 'be16']]);
/** lb_src_range key: prefixlen = LB_SRC_SVC_BITS + CIDR bits; addr the CIDR's network. */
export interface LbSrcKey { prefixlen: number; svcId: number; addr: string }
export interface LbSrcValue { allowed: number }
export const lbSrcKey = defineStruct<LbSrcKey>('lb_src_key', 12, [['prefixlen', 0, 'u32'], ['svc_id', 4, 'u32'], ['addr', 8, 'ip4']]);
export const lbSrcValue = defineStruct<LbSrcValue>('lb_src_value', 4, [['allowed', 0, 'u32']]);
export interface IdAlloc { nextSvc: number; nextBackend: number; nextSp: number }
export const idAlloc = defineStruct<IdAlloc>('id_alloc', 16, [
  ['next_svc', 0, 'u32'], ['next_backend', 4, 'u32'], ['next_sp', 8, 'u32'], ['pad0', 12, 'pad', 4],
]);
/** maglev_cfg value (key 0): M and the 5-tuple hash seed. */
export interface MaglevConfig { tableSize: number; flowSeed: number }
export const maglevConfig = defineStruct<MaglevConfig>('maglev_config', 8, [['table_size', 0, 'u32'], ['flow_seed', 4, 'u32']]);
/** xdp_cfg value (key 0): XDP_CFG_F_* flags. */
export interface XdpConfig { flags: number }
export const XDP_CFG_F_LOCAL_REDIRECT = 1;
export const xdpConfig = defineStruct<XdpConfig>('xdp_config', 8, [['flags', 0, 'u32'], ['pad0', 4, 'pad', 4]]);
/** sock_lb_cfg value (key 0): 0n = the socket LB translates sockets of every netns. */
export interface SockLbConfig { netnsCookie: bigint }
export const sockLbConfig = defineStruct<SockLbConfig>('sock_lb_config', 8, [['netns_cookie', 0, 'u64']]);
/** sock_gone key: a removed backend and the frontend whose sockets to it are destroyed (value: u32 1). */
export interface SockGoneKey { addr: string; port: number; proto: number; svcId: number }
export const sockGoneKey = defineStruct<SockGoneKey>('sock_gone_key', 12, [
  ['addr', 0, 'ip4'], ['port', 4, 'be16'], ['proto', 6, 'u8'], ['pad0', 7, 'pad', 1], ['svc_id', 8, 'u32'],
]);
/** One record per socket the sock_destroy iterators destroyed (err: 0 or -errno). */
export interface SockDestroyed { cookie: bigint; addr: string; port: number; proto: number; svcId: number; err: number }
export const sockDestroyed = defineStruct<SockDestroyed>('sock_destroyed', 24, [
  ['cookie', 0, 'u64'], ['addr', 8, 'ip4'], ['port', 12, 'be16'], ['proto', 14, 'u8'], ['pad0', 15, 'pad', 1],
  ['svc_id', 16, 'u32'], ['err', 20, 's32'],
]);
/** backends / rev_nat / lb_config keys: a host-order __u32 (also maglev's key, and its value: an
 * inner map fd when written, the inner map's id when read). */
export const u32Key = defineStruct<U32Key>('u32', 4, [['id', 0, 'u32']]);

// ---- IPv6 twins: the same TS shapes (addresses as text), 16-byte addresses in the kernel ----
export const svc6Key = defineStruct<SvcKey>('svc6_key', 24, [
  ['vip', 0, 'ip6'], ['dport', 16, 'be16', 'port'], ['proto', 18, 'u8'], ['pad0', 19, 'pad', 1],
  ['slot', 20, 'u16'], ['pad1', 22, 'pad', 2],
]);
export const backend6Value = defineStruct<BackendValue>('backend6_value', 24, [
  ['ip', 0, 'ip6'], ['port', 16, 'be16'], ['proto', 18, 'u8'], ['flags', 19, 'u8'], ['sp_id', 20, 'u32'],
]);
export const revNat6Value = defineStruct<RevNatValue>('rev_nat6_value', 20, [
  ['vip', 0, 'ip6'], ['port', 16, 'be16'], ['pad0', 18, 'pad', 2],
]);
export const ct6Key = defineStruct<CtKey>('ct6_key', 40, [
  ['saddr', 0, 'ip6'], ['daddr', 16, 'ip6'], ['sport', 32, 'be16'], ['dport', 34, 'be16'],
  ['proto', 36, 'u8'], ['pad0', 37, 'pad', 1], ['pad1', 38, 'pad', 2],
]);
export const ct6Value = defineStruct<CtValue>('ct6_value', 56, [
  ['expires', 0, 'u64'], ['backend_id', 8, 'u32'], ['svc_id', 12, 'u32'],
  ['nat_addr', 16, 'ip6'], ['orig_addr', 32, 'ip6'], ['nat_port', 48, 'be16'], ['flags', 50, 'u16'],
  ['orig_port', 52, 'be16'], ['pad0', 54, 'pad', 2],
]);
export const affinity6Key = defineStruct<AffinityKey>('affinity6_key', 20, [['svc_id', 0, 'u32'], ['client', 4, 'ip6']]);
/** lb6_config value (key 0): '::' = none / unknown. The SNAT port range is lb_config's. */
export interface Lb6Config { hairpinAddr: string; snatAddr: string; nodeAddr: string }
export const lb6Config = defineStruct<Lb6Config>('lb6_config', 48, [
  ['hairpin_addr', 0, 'ip6'], ['snat_addr', 16, 'ip6'], ['node_addr', 32, 'ip6'],
]);
export const sockRev6Key = defineStruct<SockRevKey>('sock_rev6_key', 32, [
  ['cookie', 0, 'u64'], ['addr', 8, 'ip6'], ['port', 24, 'be16'], ['pad0', 26, 'pad', 2], ['pad1', 28, 'pad', 4],
]);
export const sockRev6Value = defineStruct<SockRevValue>('sock_rev6_value', 24, [
  ['vip', 0, 'ip6'], ['port', 16, 'be16'], ['pad0', 18, 'pad', 2], ['svc_id', 20, 'u32'],
]);

/** sock_gone6 key / sock_destroyed6 record: the IPv6 twins (sock_destroy.bpf.c's _tcp6/_udp6 iterators). */
export const sockGone6Key = defineStruct<SockGoneKey>('sock_gone6_key', 24, [
  ['addr', 0, 'ip6'], ['port', 16, 'be16'], ['proto', 18, 'u8'], ['pad0', 19, 'pad', 1], ['svc_id', 20, 'u32'],
]);
export const sockDestroyed6 = defineStruct<SockDestroyed>('sock_destroyed6', 40, [
  ['cookie', 0, 'u64'], ['addr', 8, 'ip6'], ['port', 24, 'be16'], ['proto', 26, 'u8'], ['pad0', 27, 'pad', 1],
  ['svc_id', 28, 'u32'], ['err', 32, 's32'], ['pad1', 36, 'pad', 4],
]);

/** Every abi.h struct codec, by C name (what abi.test.ts walks). */
export const STRUCTS: readonly StructCodec<unknown>[] = [
  svcKey, svcValue, backendValue, revNatValue, ctKey, ctValue, affinityKey, affinityValue, lbConfig,
  sockRevKey, sockRevValue, svcMeta, fragKey, fragValue, idAlloc, lbSrcKey, lbSrcValue, maglevConfig,
  sockLbConfig, sockGoneKey, sockDestroyed, xdpConfig,
  svc6Key, backend6Value, revNat6Value, ct6Key, ct6Value, affinity6Key, lb6Config, sockRev6Key, sockRev6Value,
  sockGone6Key, sockDestroyed6,
] as StructCodec<unknown>[];

export function protoNumber(p: string): number | undefined {
  return p === 'TCP' ? PROTO_TCP : p === 'UDP' ? PROTO_UDP : undefined;
}

export function protoName(n: number): string {
  return n === PROTO_TCP ? 'TCP' : n === PROTO_UDP ? 'UDP' : String(n);
}
