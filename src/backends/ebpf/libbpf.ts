// Typed wrapper over the native addon (build/Release/bpfproxy_native.node). Every kernel error
// becomes a BpfError carrying the failed operation and errno.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { StructCodec } from './abi.js';

export class BpfError extends Error {
  override readonly name = 'BpfError';
  constructor(
    /** What failed, e.g. `map update` or `tc attach veth0 ingress in /run/netns/x`. */
    readonly op: string,
    readonly errno: number,
    /** errno name, e.g. `E2BIG`, `ENOENT`. */
    readonly code: string,
    message?: string,
    /** libbpf / verifier output for load failures. */
    readonly log?: string,
  ) {
    super(message ?? `${op}: ${code}`);
  }
}

export interface ProgramDesc { name: string; section: string; fd: number; type: number; expectedAttachType: number }
export interface MapDesc { name: string; fd: number; type: number; keySize: number; valueSize: number; maxEntries: number }
export interface LoadedObject { handle: number; programs: ProgramDesc[]; maps: MapDesc[] }
export interface TestRunResult { retval: number; durationNs: number; dataOut: Buffer }
/** hwType: ARPHRD_* (1 Ethernet, 772 loopback, 768 IPIP, 0xfffe none: tun, WireGuard; -1 unknown). */
export interface Interface { name: string; index: number; loopback: boolean; up: boolean; hwType: number }
export const ARPHRD_ETHER = 1;
export interface TcTarget {
  /** Network namespace to do the netlink calls in (e.g. /run/netns/node); default: the caller's. */
  netns?: string;
  ifname?: string;
  ifindex?: number;
  direction?: 'ingress' | 'egress';
  handle: number;
  priority: number;
}
/** XDP attach modes (--xdp): driver (native) or the kernel's skb-based fallback (generic). */
export type XdpMode = 'native' | 'generic';
export interface XdpTarget { netns?: string; ifname?: string; ifindex?: number }
/** What an interface has attached (bpf_xdp_query): ids are 0 where nothing is. */
export interface XdpState { mode: 'none' | 'native' | 'generic' | 'offload' | 'multi'; progId: number; nativeId: number; genericId: number }
export interface XdpTestRun {
  progFd: number;
  data: Buffer;
  /** Network namespace to run in (bpf_fib_lookup and live frames use it); default: ours. */
  netns?: string;
  /** Ingress interface of the frame (xdp_md.ingress_ifindex), looked up in `netns`. */
  ifname?: string;
  repeat?: number;
  /** BPF_F_TEST_XDP_LIVE_FRAMES (kernel 5.18+): XDP_TX / redirect really send the frames. */
  live?: boolean;
  batchSize?: number;
}
export interface BatchResult { done: number; fallback: boolean }
/** A socket as inet_diag lists it (IPv4 or IPv6 text, ports host order); the cookie makes SOCK_DESTROY exact. */
export interface DiagSocket { src: string; sport: number; dst: string; dport: number; ifindex: number; cookie: bigint; state: number }

interface Native {
  openLoad(path: string, pinRoot: string | null, maxEntries?: Record<string, number>): Promise<LoadedObject>;
  closeObject(handle: number): void;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  closeFd(fd: number): void;
  progGetFdById(id: number): number;
  progInfo(fd: number): { id: number; type: number; name: string; tag: string; runTimeNs: bigint; runCnt: bigint };
  enableStats(): number;
  mapInfo(fd: number): { id: number; type: number; name: string; keySize: number; valueSize: number; maxEntries: number };
  progTestRun(fd: number, data: Buffer, repeat: number, outSize: number, ctx: Buffer | null): Promise<TestRunResult>;
  progTestRunEach(fd: number, frames: Buffer, frameLen: number): Promise<number[]>;
  mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
  mapDump(fd: number, keySize: number, valueSize: number, maxEntries: number): Promise<{ keys: Buffer; values: Buffer; count: number }>;
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, flags: number): Promise<BatchResult>;
  mapDeleteBatch(fd: number, keys: Buffer, count: number): Promise<BatchResult>;
  mapCreate(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, flags: number): number;
  mapGetFdById(id: number): number;
  tcAttach(t: TcTarget & { progFd: number }): Promise<{ ifindex: number; progId: number }>;
  tcDetach(t: TcTarget): Promise<boolean>;
  tcQuery(t: TcTarget): Promise<number | null>;
  tcHookDestroy(t: Pick<TcTarget, 'netns' | 'ifname' | 'ifindex'>): Promise<boolean>;
  listInterfaces(netns: string | null): Promise<Interface[]>;
  cgroupAttach(path: string, progFd: number, attachType: number, replaceFd: number): void;
  cgroupDetach(path: string, progFd: number, attachType: number): boolean;
  cgroupQuery(path: string, attachType: number): number[];
  iterLink(progFd: number): number;
  iterRun(linkFd: number, netns: string | null): Promise<Buffer>;
  netnsCookie(netns: string | null): Promise<bigint>;
  sockDiagDump(netns: string | null, proto: number, states: number, family?: 4 | 6): Promise<DiagSocket[]>;
  sockDestroy(netns: string | null, proto: number, socks: DiagSocket[]): Promise<number[]>;
  xdpAttach(t: XdpTarget & { mode: XdpMode; progFd: number }): Promise<number>;
  xdpDetach(t: XdpTarget & { mode: XdpMode }): Promise<boolean>;
  xdpQuery(t: XdpTarget): Promise<XdpState>;
  xdpTestRun(r: XdpTestRun): Promise<{ retval: number; dataOut: Buffer }>;
  abiLayout(): Record<string, { size: number; fields: Record<string, { offset: number; size: number }> }>;
  abiConstants(): Record<string, number>;
}

/** Repo root: this file is src/backends/ebpf/libbpf.ts (or dist/backends/ebpf/libbpf.js). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const ADDON_PATH = path.join(REPO_ROOT, 'build/Release/bpfproxy_native.node');

let native: Native | undefined;

/** The raw addon (loaded on first use so that importing this module never needs a build). */
export function addon(): Native {
  if (!native) native = createRequire(import.meta.url)(ADDON_PATH) as Native;
  return native;
}

export function addonAvailable(): boolean {
  try {
    addon();
    return true;
  } catch {
    return false;
  }
}

function toBpfError(e: unknown): unknown {
  if (e instanceof Error && typeof (e as { op?: unknown }).op === 'string') {
    const x = e as Error & { op: string; errno: number; code: string; log?: string };
    return new BpfError(x.op, x.errno, x.code, x.message, x.log);
  }
  return e;
}

function sync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toBpfError(e);
  }
}

async function async<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw toBpfError(e);
  }
}

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

export const libbpf = {
  openLoad: (file: string, pinRoot?: string, maxEntries?: Record<string, number>) => async(() => addon().openLoad(file, pinRoot ?? null, maxEntries)),
  closeObject: (handle: number) => sync(() => addon().closeObject(handle)),
  pin: (fd: number, p: string) => sync(() => addon().objPin(fd, p)),
  getPinned: (p: string) => sync(() => addon().objGet(p)),
  closeFd: (fd: number) => sync(() => addon().closeFd(fd)),
  progFdById: (id: number) => sync(() => addon().progGetFdById(id)),
  progInfo: (fd: number) => sync(() => addon().progInfo(fd)),
  /** Turns on run-time stats of all programs until the returned fd is closed. */
  enableStats: () => sync(() => addon().enableStats()),
  mapInfo: (fd: number) => sync(() => addon().mapInfo(fd)),
  /** A new map owned by the caller (close its fd): e.g. an inner map for a map-in-map. */
  mapCreate: (m: { type: number; name: string; keySize: number; valueSize: number; maxEntries: number; flags?: number }) =>
    sync(() => addon().mapCreate(m.type, m.name, m.keySize, m.valueSize, m.maxEntries, m.flags ?? 0)),
  mapFdById: (id: number) => sync(() => addon().mapGetFdById(id)),
  /** Batch update of pre-encoded keys/values (count entries each), e.g. a whole array map. */
  updateBatchRaw: (fd: number, keys: Buffer, values: Buffer, count: number) => async(() => addon().mapUpdateBatch(fd, keys, values, count, BPF_ANY)),
  /** Every entry, as raw keys/values (count of each). */
  dumpRaw: (fd: number, keySize: number, valueSize: number, maxEntries: number) => async(() => addon().mapDump(fd, keySize, valueSize, maxEntries)),
  testRun: (fd: number, data: Buffer, opts: { repeat?: number; outSize?: number; ctx?: Buffer } = {}) =>
    async(() => addon().progTestRun(fd, data, opts.repeat ?? 1, opts.outSize ?? Math.max(data.length + 256, 256), opts.ctx ?? null)),
  /** Runs the program once per frameLen-byte frame, in order; counts of each retval (0..15). */
  testRunEach: (fd: number, frames: Buffer, frameLen: number) => async(() => addon().progTestRunEach(fd, frames, frameLen)),
  tcAttach: (t: TcTarget, progFd: number) => async(() => addon().tcAttach({ ...t, progFd })),
  tcDetach: (t: TcTarget) => async(() => addon().tcDetach(t)),
  tcQuery: (t: TcTarget) => async(() => addon().tcQuery(t)),
  /** Removes the clsact qdisc of an interface (and every filter on it). */
  tcHookDestroy: (t: Pick<TcTarget, 'netns' | 'ifname' | 'ifindex'>) => async(() => addon().tcHookDestroy(t)),
  listInterfaces: (netns?: string) => async(() => addon().listInterfaces(netns ?? null)),
  cgroupAttach: (cg: string, progFd: number, attachType: number, replaceFd = 0) =>
    sync(() => addon().cgroupAttach(cg, progFd, attachType, replaceFd)),
  cgroupDetach: (cg: string, progFd: number, attachType: number) => sync(() => addon().cgroupDetach(cg, progFd, attachType)),
  cgroupQuery: (cg: string, attachType: number) => sync(() => addon().cgroupQuery(cg, attachType)),
  /** An iterator program made runnable (BPF_TRACE_ITER link); close the fd to drop it. */
  iterLink: (progFd: number) => sync(() => addon().iterLink(progFd)),
  /** One pass of an iterator over the sockets of `netns` (default: ours): what it wrote. */
  iterRun: (linkFd: number, netns?: string) => async(() => addon().iterRun(linkFd, netns ?? null)),
  /** Attaches (or atomically replaces) the XDP program of an interface in `mode`; its program id. */
  xdpAttach: (t: XdpTarget, mode: XdpMode, progFd: number) => async(() => addon().xdpAttach({ ...t, mode, progFd })),
  /** Detaches the `mode` XDP program; false when the interface is gone. */
  xdpDetach: (t: XdpTarget, mode: XdpMode) => async(() => addon().xdpDetach({ ...t, mode })),
  xdpQuery: (t: XdpTarget) => async(() => addon().xdpQuery(t)),
  /** One XDP test run (repeated), in a namespace, from an ingress interface; optionally live frames. */
  xdpTestRun: (r: XdpTestRun) => async(() => addon().xdpTestRun(r)),
  /** The cookie bpf_get_netns_cookie() gives sockets of `netns` (default: ours); kernel 5.14+. */
  netnsCookie: (netns?: string) => async(() => addon().netnsCookie(netns ?? null)),
  /** IPv4 sockets of `proto` in `netns` whose TCP state is in the `states` bit mask (inet_diag). */
  sockDiagDump: (proto: number, states: number, netns?: string, family: 4 | 6 = 4) => async(() => addon().sockDiagDump(netns ?? null, proto, states, family)),
  /** SOCK_DESTROY each socket (as sockDiagDump listed it): 0 or an errno per socket. */
  sockDestroy: (proto: number, socks: DiagSocket[], netns?: string) => async(() => addon().sockDestroy(netns ?? null, proto, socks)),
};

/** A map opened by fd, with typed keys/values through the abi.ts codecs. */
export class BpfMap<K, V> {
  constructor(
    readonly name: string,
    readonly fd: number,
    readonly key: StructCodec<K>,
    readonly value: StructCodec<V>,
    readonly maxEntries: number,
  ) {}

  lookup(k: K): V | undefined {
    const b = sync(() => addon().mapLookup(this.fd, this.key.encode(k), this.value.size));
    return b ? this.value.decode(b) : undefined;
  }

  update(k: K, v: V, flags = BPF_ANY): void {
    sync(() => addon().mapUpdate(this.fd, this.key.encode(k), this.value.encode(v), flags));
  }

  delete(k: K): boolean {
    return sync(() => addon().mapDelete(this.fd, this.key.encode(k)));
  }

  async dump(): Promise<Array<[K, V]>> {
    const r = await async(() => addon().mapDump(this.fd, this.key.size, this.value.size, this.maxEntries));
    const out: Array<[K, V]> = [];
    for (let i = 0; i < r.count; i++) out.push([this.key.decode(r.keys, i * this.key.size), this.value.decode(r.values, i * this.value.size)]);
    return out;
  }

  /** How many entries the map holds (one batch dump, nothing decoded). */
  async count(): Promise<number> {
    return (await async(() => addon().mapDump(this.fd, this.key.size, this.value.size, this.maxEntries))).count;
  }

  async updateBatch(entries: ReadonlyArray<readonly [K, V]>, flags = BPF_ANY): Promise<BatchResult> {
    const keys = Buffer.alloc(entries.length * this.key.size);
    const values = Buffer.alloc(entries.length * this.value.size);
    entries.forEach(([k, v], i) => {
      this.key.encode(k, keys, i * this.key.size);
      this.value.encode(v, values, i * this.value.size);
    });
    return async(() => addon().mapUpdateBatch(this.fd, keys, values, entries.length, flags));
  }

  async deleteBatch(keysIn: readonly K[]): Promise<BatchResult> {
    const keys = Buffer.alloc(keysIn.length * this.key.size);
    keysIn.forEach((k, i) => this.key.encode(k, keys, i * this.key.size));
    return async(() => addon().mapDeleteBatch(this.fd, keys, keysIn.length));
  }
}
