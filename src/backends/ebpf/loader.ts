// Loads the BPF objects with their maps pinned by name under the pin root (LIBBPF_PIN_BY_NAME:
// an existing pinned map is reused, so a restarted controller adopts the live tables), and
// gives typed handles on the maps.
import { mkdirSync, statfsSync, unlinkSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import * as abi from './abi.js';
import { BpfError, BpfMap, libbpf, type LoadedObject, type ProgramDesc } from './libbpf.js';

const BPF_FS_MAGIC = 0xcafe4a11;
export const BPFFS_ROOT = '/sys/fs/bpf';

export interface Maps {
  services: BpfMap<abi.SvcKey, abi.SvcValue>;
  backends: BpfMap<abi.U32Key, abi.BackendValue>;
  revNat: BpfMap<abi.U32Key, abi.RevNatValue>;
  conntrack: BpfMap<abi.CtKey, abi.CtValue>;
  affinity: BpfMap<abi.AffinityKey, abi.AffinityValue>;
  config: BpfMap<abi.U32Key, abi.LbConfig>;
  sockRev: BpfMap<abi.SockRevKey, abi.SockRevValue>;
  /** sock_lb_cfg: the socket LB's scope (netns cookie, 0 = every netns). */
  sockCfg: BpfMap<abi.U32Key, abi.SockLbConfig>;
  /** xdp_cfg: xdp_lb's settings (XDP_CFG_F_LOCAL_REDIRECT). */
  xdpCfg: BpfMap<abi.U32Key, abi.XdpConfig>;
  meta: BpfMap<abi.U32Key, abi.SvcMeta>;
  frag: BpfMap<abi.FragKey, abi.FragValue>;
  ids: BpfMap<abi.U32Key, abi.IdAlloc>;
  /** lb_src_range (LPM trie): source CIDRs of LoadBalancer frontends with SVC_F_SRC_RANGE. */
  srcRange: BpfMap<abi.LbSrcKey, abi.LbSrcValue>;
  /** maglev (HASH_OF_MAPS): svc_id → inner table; written through MaglevMaps (maglev-maps.ts). */
  maglev: BpfMap<abi.U32Key, abi.U32Key>;
  /** maglev_cfg: the table size and flow hash seed every table was built for. */
  maglevCfg: BpfMap<abi.U32Key, abi.MaglevConfig>;
  /** IPv6 twins (abi.h): the same keys and values with 16-byte addresses. */
  services6: BpfMap<abi.SvcKey, abi.SvcValue>;
  backends6: BpfMap<abi.U32Key, abi.BackendValue>;
  revNat6: BpfMap<abi.U32Key, abi.RevNatValue>;
  conntrack6: BpfMap<abi.CtKey, abi.CtValue>;
  affinity6: BpfMap<abi.AffinityKey, abi.AffinityValue>;
  config6: BpfMap<abi.U32Key, abi.Lb6Config>;
  sockRev6: BpfMap<abi.SockRevKey, abi.SockRevValue>;
  /** dp_stats (PERCPU_ARRAY of __u64): read with stats.ts, not through a codec. */
  statsFd: number;
}

function isBpffs(dir: string): boolean {
  try {
    return statfsSync(dir).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** Mounts bpffs at /sys/fs/bpf when it is not there yet (as Cilium does), then creates pinRoot. */
export async function ensureBpffs(pinRoot: string): Promise<void> {
  const abs = path.resolve(pinRoot);
  if (!isBpffs(path.dirname(abs)) && !isBpffs(abs)) {
    if (!abs.startsWith(BPFFS_ROOT + '/')) throw new Error(`pin root ${abs} is not on bpffs and not under ${BPFFS_ROOT}`);
    mkdirSync(BPFFS_ROOT, { recursive: true });
    await promisify(execFile)('mount', ['-t', 'bpf', 'bpf', BPFFS_ROOT]);
  }
  mkdirSync(abs, { recursive: true, mode: 0o700 });
}

function mapsOf(obj: LoadedObject): Maps {
  const byName = new Map(obj.maps.map((m) => [m.name, m]));
  const get = <K, V>(name: abi.MapName, k: abi.StructCodec<K>, v: abi.StructCodec<V>) => {
    const m = byName.get(name);
    if (!m) throw new Error(`BPF object has no map ${name}`);
    if (m.keySize !== k.size || m.valueSize !== v.size)
      throw new Error(`map ${name}: kernel sizes ${m.keySize}/${m.valueSize} ≠ codec ${k.size}/${v.size}`);
    return new BpfMap<K, V>(name, m.fd, k, v, m.maxEntries);
  };
  return {
    services: get('services', abi.svcKey, abi.svcValue),
    backends: get('backends', abi.u32Key, abi.backendValue),
    revNat: get('rev_nat', abi.u32Key, abi.revNatValue),
    conntrack: get('conntrack', abi.ctKey, abi.ctValue),
    affinity: get('affinity', abi.affinityKey, abi.affinityValue),
    config: get('lb_config', abi.u32Key, abi.lbConfig),
    sockRev: get('sock_rev', abi.sockRevKey, abi.sockRevValue),
    sockCfg: get('sock_lb_cfg', abi.u32Key, abi.sockLbConfig),
    xdpCfg: get('xdp_cfg', abi.u32Key, abi.xdpConfig),
    meta: get('svc_meta', abi.u32Key, abi.svcMeta),
    frag: get('frag4', abi.fragKey, abi.fragValue),
    ids: get('id_alloc', abi.u32Key, abi.idAlloc),
    srcRange: get('lb_src_range', abi.lbSrcKey, abi.lbSrcValue),
    maglev: get('maglev', abi.u32Key, abi.u32Key),
    maglevCfg: get('maglev_cfg', abi.u32Key, abi.maglevConfig),
    services6: get('services6', abi.svc6Key, abi.svcValue),
    backends6: get('backends6', abi.u32Key, abi.backend6Value),
    revNat6: get('rev_nat6', abi.u32Key, abi.revNat6Value),
    conntrack6: get('conntrack6', abi.ct6Key, abi.ct6Value),
    affinity6: get('affinity6', abi.affinity6Key, abi.affinityValue),
    config6: get('lb6_config', abi.u32Key, abi.lb6Config),
    sockRev6: get('sock_rev6', abi.sockRev6Key, abi.sockRev6Value),
    statsFd: statsMap(byName.get('dp_stats')),
  };
}

function statsMap(m: LoadedObject['maps'][number] | undefined): number {
  if (!m) throw new Error('BPF object has no map dp_stats');
  if (m.keySize !== 4 || m.valueSize !== 8 || m.maxEntries !== abi.STATS_MAX)
    throw new Error(`map dp_stats: kernel ${m.keySize}/${m.valueSize}/${m.maxEntries} ≠ 4/8/${abi.STATS_MAX}`);
  return m.fd;
}

export interface Dataplane {
  maps: Maps;
  tc: ProgramDesc;
  /** tc_lb built for interfaces without an Ethernet header (tc_lb_l3.bpf.c). */
  tcL3: ProgramDesc;
  /** cgroup programs (connect, sendmsg, recvmsg, getpeername; 4 and 6). */
  sock: ProgramDesc[];
  /** xdp_lb: the external interface's fast path (xdp_lb.bpf.c). */
  xdp: ProgramDesc;
  objects: LoadedObject[];
  close(): void;
}

/**
 * Sizes to load with: a map already pinned keeps its size (a restarted or upgraded
 * controller adopts the live map, whatever size this version would default to), unless a
 * flag asks for another size, which needs the old map gone first: said clearly here rather
 * than as libbpf's "couldn't reuse pinned map".
 */
function loadSizes(pinRoot: string, asked: abi.MapSizes): Record<string, number> {
  const out: Record<string, number> = { ...asked };
  for (const name of abi.SIZED_MAPS) {
    let fd: number;
    try {
      fd = libbpf.getPinned(path.join(pinRoot, name));
    } catch {
      continue; // not pinned yet: created with the asked (or default) size
    }
    const have = libbpf.mapInfo(fd).maxEntries;
    libbpf.closeFd(fd);
    const want = asked[name];
    if (want !== undefined && have !== want)
      throw new Error(`map ${name} is pinned with ${have} entries but ${want} were asked for: run \`bpfproxy run --cleanup\` first (established flows are dropped)`);
    out[name] = have;
  }
  // Each IPv6 twin as large as its IPv4 map (when one is pinned already, that size).
  for (const [v4, v6] of Object.entries(abi.V6_TWIN) as Array<[keyof abi.MapSizes, abi.MapName]>) {
    let fd: number | undefined;
    try {
      fd = libbpf.getPinned(path.join(pinRoot, v6));
    } catch {
      fd = undefined;
    }
    if (fd !== undefined) {
      out[v6] = libbpf.mapInfo(fd).maxEntries;
      libbpf.closeFd(fd);
    } else if (out[v4] !== undefined) out[v6] = out[v4]!;
  }
  return out;
}

/**
 * dp_stats holds only counters: one pinned by a version with another number of counters
 * (16 before IPv6 and XDP) is unpinned, so this load creates it anew instead of failing on
 * libbpf's reuse check. The programs still attached keep the old map until they are
 * replaced; the exported counters restart from zero (a counter reset, as on a restart).
 */
function replaceOtherSizeStats(pinRoot: string): string | undefined {
  const pin = path.join(pinRoot, 'dp_stats');
  let fd: number;
  try {
    fd = libbpf.getPinned(pin);
  } catch {
    return undefined;
  }
  const have = libbpf.mapInfo(fd).maxEntries;
  libbpf.closeFd(fd);
  if (have === abi.STATS_MAX) return undefined;
  unlinkSync(pin);
  return `dp_stats was pinned with ${have} counters, this version has ${abi.STATS_MAX}: replaced (counters restart from zero)`;
}

export async function loadDataplane(opts: { pinRoot: string; objectDir: string; mapSizes?: abi.MapSizes; log?: (msg: string) => void }): Promise<Dataplane> {
  await ensureBpffs(opts.pinRoot);
  const replaced = replaceOtherSizeStats(opts.pinRoot);
  if (replaced) opts.log?.(replaced);
  const sizes = loadSizes(opts.pinRoot, opts.mapSizes ?? {});
  // The first object pins the maps; the others find them pinned and share them.
  const objects: LoadedObject[] = [];
  const closeAll = () => {
    for (const o of objects) libbpf.closeObject(o.handle);
  };
  try {
    for (const f of ['tc_lb.bpf.o', 'tc_lb_l3.bpf.o', 'sock_lb.bpf.o', 'xdp_lb.bpf.o']) objects.push(await libbpf.openLoad(path.join(opts.objectDir, f), opts.pinRoot, sizes));
  } catch (e) {
    closeAll();
    throw e;
  }
  const [tcObj, l3Obj, sockObj, xdpObj] = objects as [LoadedObject, LoadedObject, LoadedObject, LoadedObject];
  const tc = tcObj.programs.find((p) => p.name === 'tc_lb');
  const tcL3 = l3Obj.programs.find((p) => p.name === 'tc_lb_l3');
  const xdp = xdpObj.programs.find((p) => p.name === 'xdp_lb');
  if (!tc || !tcL3 || !xdp) {
    closeAll();
    throw new Error('tc_lb.bpf.o / tc_lb_l3.bpf.o / xdp_lb.bpf.o lack their programs tc_lb / tc_lb_l3 / xdp_lb');
  }
  return { maps: mapsOf(tcObj), tc, tcL3, sock: sockObj.programs, xdp, objects, close: closeAll };
}

/** Read-only view for `bpfproxy inspect` from another process: opens the pinned maps
 * without loading or attaching anything. Undefined when nothing is pinned. */
export function openPinnedMaps(pinRoot: string): { maps: Pick<Maps, 'services' | 'backends' | 'meta'> & Partial<Pick<Maps, 'srcRange' | 'maglevCfg' | 'services6' | 'backends6'>>; close(): void } | undefined {
  const open = <K, V>(name: abi.MapName, k: abi.StructCodec<K>, v: abi.StructCodec<V>): BpfMap<K, V> | undefined => {
    let fd: number;
    try {
      fd = libbpf.getPinned(path.join(pinRoot, name));
    } catch (e) {
      if (e instanceof BpfError && e.code === 'ENOENT') return undefined;
      throw e;
    }
    const info = libbpf.mapInfo(fd);
    if (info.keySize !== k.size || info.valueSize !== v.size) {
      libbpf.closeFd(fd);
      throw new Error(`pinned map ${name}: sizes ${info.keySize}/${info.valueSize} ≠ codec ${k.size}/${v.size}`);
    }
    return new BpfMap<K, V>(name, fd, k, v, info.maxEntries);
  };
  const services = open('services', abi.svcKey, abi.svcValue);
  const backends = open('backends', abi.u32Key, abi.backendValue);
  const meta = open('svc_meta', abi.u32Key, abi.svcMeta);
  // Absent where a version without IPv6 pinned the maps.
  const services6 = open('services6', abi.svc6Key, abi.svcValue);
  const backends6 = open('backends6', abi.u32Key, abi.backend6Value);
  // Absent where an older version pinned the maps: shown as no ranges.
  const srcRange = open('lb_src_range', abi.lbSrcKey, abi.lbSrcValue);
  const maglevCfg = open('maglev_cfg', abi.u32Key, abi.maglevConfig);
  const close = () => [services, backends, meta, srcRange, maglevCfg, services6, backends6].forEach((m) => m && libbpf.closeFd(m.fd));
  if (!services || !backends || !meta) {
    close();
    return undefined;
  }
  return {
    maps: { services, backends, meta, ...(srcRange ? { srcRange } : {}), ...(maglevCfg ? { maglevCfg } : {}), ...(services6 && backends6 ? { services6, backends6 } : {}) },
    close,
  };
}
