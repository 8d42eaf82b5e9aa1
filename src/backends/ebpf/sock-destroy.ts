// Closes the sockets the socket LB connected to backends a sync removed (gone.ts names them),
// so their clients get an error and connect again, to a live backend. Three ways, picked once
// when the data plane loads and logged with the reason:
//   kfunc    sock_destroy.bpf.o's iter/tcp + iter/udp programs call bpf_sock_destroy() (6.5+)
//   netlink  inet_diag lists the sockets with their cookies; SOCK_DESTROY closes the ones
//            sock_rev marks (CONFIG_INET_DIAG_DESTROY)
//   none     neither exists: such sockets keep their backend until the application closes them
// Only sockets of one network namespace are seen (the node's: --netns, or our own): that is
// where the socket LB's host clients live.
import { isIPv4 } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import * as abi from './abi.js';
import { BpfError, BpfMap, libbpf, type DiagSocket, type LoadedObject } from './libbpf.js';
import type { GoneTarget } from './gone.js';

export type DestroyMethod = 'kfunc' | 'netlink' | 'none';

export interface DestroyResult {
  /** Sockets closed, by protocol name. */
  destroyed: { tcp: number; udp: number };
  /** Sockets found but not closed (their errno names). */
  failed: string[];
  ms: number;
}

/** TCP states worth closing (inet_diag bit mask): every connected one; not LISTEN, TIME_WAIT, CLOSE, NEW_SYN_RECV. */
const TCP_STATES = [1, 2, 3, 4, 5, 8, 9, 11].reduce((m, s) => m | (1 << s), 0);
/** A connected UDP socket is TCP_ESTABLISHED to inet_diag. */
const UDP_STATES = 1 << 1;

interface Impl {
  run(targets: readonly GoneTarget[]): Promise<DestroyResult>;
  close(): void;
}

/** Why the kfunc cannot be used, from the load error (libbpf names a missing ksym in its log). */
export function kfuncMissingReason(e: unknown): string {
  const log = e instanceof BpfError ? (e.log ?? '') : '';
  if (/bpf_sock_destroy/.test(log)) return 'the kernel has no bpf_sock_destroy kfunc (added in Linux 6.5)';
  if (/bpf_iter_(tcp|udp)|iter\/(tcp|udp)/.test(log)) return 'the kernel has no TCP/UDP socket iterators (Linux 5.9+)';
  const last = log.split('\n').map((l) => l.trim()).filter(Boolean).slice(-1)[0];
  return `sock_destroy.bpf.o did not load: ${e instanceof Error ? e.message : String(e)}${last ? ` (${last})` : ''}`;
}

export class SocketDestroyer {
  private constructor(
    readonly method: DestroyMethod,
    /** Why the methods before this one are not used (empty for kfunc). */
    readonly reason: string,
    private readonly impl: Impl | undefined,
  ) {}

  /**
   * Finds the first method this kernel supports. `only` forces one (tests of the fallback):
   * 'netlink' skips the kfunc, 'none' turns destruction off.
   */
  static async open(o: {
    objectDir: string; pinRoot: string; netns?: string; sockRev: BpfMap<abi.SockRevKey, abi.SockRevValue>;
    /** sock_rev6; without it (tests of the IPv4 path) IPv6 sockets are not looked at by netlink. */
    sockRev6?: BpfMap<abi.SockRevKey, abi.SockRevValue>; only?: DestroyMethod;
  }): Promise<SocketDestroyer> {
    if (o.only === 'none') return new SocketDestroyer('none', 'socket destruction turned off', undefined);
    const reasons: string[] = [];
    if (o.only !== 'netlink') {
      try {
        return new SocketDestroyer('kfunc', '', await KfuncImpl.open(o.objectDir, o.pinRoot, o.netns));
      } catch (e) {
        reasons.push(kfuncMissingReason(e));
      }
    } else reasons.push('netlink forced');
    const probe = await NetlinkImpl.probe(o.netns);
    if (probe.protocols.length) return new SocketDestroyer('netlink', [...reasons, ...probe.missing].join('; '), new NetlinkImpl(o.sockRev, probe.protocols, o.netns, o.sockRev6));
    return new SocketDestroyer('none', [...reasons, ...probe.missing].join('; '), undefined);
  }

  /** Closes the sockets the socket LB connected to these backends through these frontends. */
  async destroy(targets: readonly GoneTarget[]): Promise<DestroyResult> {
    if (!this.impl || targets.length === 0) return { destroyed: { tcp: 0, udp: 0 }, failed: [], ms: 0 };
    return this.impl.run(targets);
  }

  close(): void {
    this.impl?.close();
  }
}

function errnoName(n: number): string {
  return ({ 1: 'EPERM', 2: 'ENOENT', 22: 'EINVAL', 95: 'EOPNOTSUPP', 103: 'ECONNABORTED' } as Record<number, string>)[n] ?? `errno ${n}`;
}

/** The kfunc, from socket iterators (TCP and UDP, each family); sock_gone / sock_gone6 are
 * filled for one run and emptied after. */
class KfuncImpl implements Impl {
  private constructor(
    private readonly obj: LoadedObject,
    private readonly gone: { 4: BpfMap<abi.SockGoneKey, abi.U32Key>; 6: BpfMap<abi.SockGoneKey, abi.U32Key> },
    /** Iterator links with the family whose records they write. */
    private readonly links: Array<{ fd: number; family: 4 | 6 }>,
    private readonly netns: string | undefined,
  ) {}

  static async open(objectDir: string, pinRoot: string, netns?: string): Promise<KfuncImpl> {
    const obj = await libbpf.openLoad(path.join(objectDir, 'sock_destroy.bpf.o'), pinRoot);
    const links: Array<{ fd: number; family: 4 | 6 }> = [];
    try {
      const m = obj.maps.find((x) => x.name === 'sock_gone');
      const m6 = obj.maps.find((x) => x.name === 'sock_gone6');
      const names = [['sock_destroy_tcp', 4], ['sock_destroy_udp', 4], ['sock_destroy_tcp6', 6], ['sock_destroy_udp6', 6]] as const;
      const progs = names.map(([n, family]) => ({ p: obj.programs.find((p) => p.name === n), family }));
      if (!m || m.keySize !== abi.sockGoneKey.size || !m6 || m6.keySize !== abi.sockGone6Key.size || progs.some((x) => !x.p))
        throw new Error('sock_destroy.bpf.o lacks sock_gone/sock_gone6 or its iterators');
      for (const { p, family } of progs) links.push({ fd: libbpf.iterLink(p!.fd), family });
      const gone = {
        4: new BpfMap('sock_gone', m.fd, abi.sockGoneKey, abi.u32Key, m.maxEntries),
        6: new BpfMap('sock_gone6', m6.fd, abi.sockGone6Key, abi.u32Key, m6.maxEntries),
      };
      return new KfuncImpl(obj, gone, links, netns);
    } catch (e) {
      for (const l of links) libbpf.closeFd(l.fd);
      libbpf.closeObject(obj.handle);
      throw e;
    }
  }

  async run(targets: readonly GoneTarget[]): Promise<DestroyResult> {
    const t0 = performance.now();
    const res: DestroyResult = { destroyed: { tcp: 0, udp: 0 }, failed: [], ms: 0 };
    for (let i = 0; i < targets.length; i += abi.SOCK_GONE_MAX) {
      const chunk = targets.slice(i, i + abi.SOCK_GONE_MAX);
      const byFamily = { 4: chunk.filter((t) => isIPv4(t.addr)), 6: chunk.filter((t) => !isIPv4(t.addr)) };
      for (const f of [4, 6] as const) if (byFamily[f].length) await this.gone[f].updateBatch(byFamily[f].map((t) => [t, { id: 1 }] as const));
      try {
        // Every iterator runs: a dual-stack (IPv6) socket may be connected to an IPv4 backend.
        for (const link of this.links) {
          const rec = link.family === 4 ? abi.sockDestroyed : abi.sockDestroyed6;
          const out = await libbpf.iterRun(link.fd, this.netns);
          for (let at = 0; at + rec.size <= out.length; at += rec.size) {
            const r = rec.decode(out, at);
            if (r.err === 0) res.destroyed[r.proto === abi.PROTO_TCP ? 'tcp' : 'udp']++;
            else res.failed.push(`${abi.protoName(r.proto)} ${link.family === 6 ? `[${r.addr}]` : r.addr}:${r.port}: ${errnoName(-r.err)}`);
          }
        }
      } finally {
        for (const f of [4, 6] as const) if (byFamily[f].length) await this.gone[f].deleteBatch(byFamily[f]);
      }
    }
    res.ms = +(performance.now() - t0).toFixed(2);
    return res;
  }

  close(): void {
    for (const l of this.links) libbpf.closeFd(l.fd);
    libbpf.closeObject(this.obj.handle);
  }
}

/** inet_diag + SOCK_DESTROY; the socket LB's mark (sock_rev) is checked from here. */
class NetlinkImpl implements Impl {
  constructor(
    private readonly sockRev: BpfMap<abi.SockRevKey, abi.SockRevValue>,
    private readonly protocols: number[],
    private readonly netns: string | undefined,
    private readonly sockRev6?: BpfMap<abi.SockRevKey, abi.SockRevValue>,
  ) {}

  /** Which protocols inet_diag can list and SOCK_DESTROY can close here, and why not the others. */
  static async probe(netns?: string): Promise<{ protocols: number[]; missing: string[] }> {
    const protocols: number[] = [];
    const missing: string[] = [];
    for (const proto of [abi.PROTO_TCP, abi.PROTO_UDP]) {
      const name = abi.protoName(proto);
      try {
        await libbpf.sockDiagDump(proto, 0, netns);
      } catch (e) {
        missing.push(`no ${name} sock_diag (${e instanceof BpfError ? e.code : String(e)}: inet_diag/${name.toLowerCase()}_diag not available)`);
        continue;
      }
      // A socket that cannot exist: ENOENT where SOCK_DESTROY is built in, EOPNOTSUPP where not.
      const [err] = await libbpf.sockDestroy(proto, [{ src: '0.0.0.0', sport: 0, dst: '0.0.0.0', dport: 0, ifindex: 0, cookie: 0n, state: 0 }], netns);
      if (err === 95) missing.push(`no ${name} SOCK_DESTROY (kernel built without CONFIG_INET_DIAG_DESTROY)`);
      else if (err === 1) missing.push(`${name} SOCK_DESTROY refused (EPERM: needs CAP_NET_ADMIN)`);
      else protocols.push(proto);
    }
    return { protocols, missing };
  }

  async run(targets: readonly GoneTarget[]): Promise<DestroyResult> {
    const t0 = performance.now();
    const res: DestroyResult = { destroyed: { tcp: 0, udp: 0 }, failed: [], ms: 0 };
    for (const proto of this.protocols) {
      const mine = targets.filter((t) => t.proto === proto);
      if (mine.length === 0) continue;
      const want = new Set(mine.map((t) => `${t.addr}:${t.port}|${t.svcId}`));
      const peers = new Set(mine.map((t) => `${t.addr}:${t.port}`));
      const states = proto === abi.PROTO_TCP ? TCP_STATES : UDP_STATES;
      const socks = await libbpf.sockDiagDump(proto, states, this.netns);
      // IPv6 sockets too: to IPv6 backends (sock_rev6), and dual-stack ones to IPv4 backends
      // (::ffff:a.b.c.d, recorded in sock_rev).
      if (this.sockRev6) socks.push(...(await libbpf.sockDiagDump(proto, states, this.netns, 6)));
      const doomed: DiagSocket[] = [];
      for (const s of socks) {
        const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s.dst)?.[1];
        const v6 = !mapped && s.dst.includes(':');
        const peer = mapped ?? (v6 ? abi.canonicalIp6(s.dst) : s.dst);
        if (!peers.has(`${peer}:${s.dport}`)) continue;
        const rev = (v6 ? this.sockRev6 : this.sockRev)?.lookup({ cookie: s.cookie, addr: peer, port: s.dport });
        if (rev && want.has(`${peer}:${s.dport}|${rev.svcId}`)) doomed.push(s);
      }
      if (doomed.length === 0) continue;
      const errs = await libbpf.sockDestroy(proto, doomed, this.netns);
      errs.forEach((err, i) => {
        // ENOENT: it closed on its own in between.
        if (err === 0) res.destroyed[proto === abi.PROTO_TCP ? 'tcp' : 'udp']++;
        else if (err !== 2) res.failed.push(`${abi.protoName(proto)} ${doomed[i]!.dst}:${doomed[i]!.dport}: ${errnoName(err)}`);
      });
    }
    res.ms = +(performance.now() - t0).toFixed(2);
    return res;
  }

  close(): void {}
}

/** The log line that says, once, how sockets of removed backends are closed here. */
export function describeDestroyer(d: Pick<SocketDestroyer, 'method' | 'reason'>, log: Logger): void {
  if (d.method === 'kfunc') log.info({ method: 'kfunc' }, 'sockets connected to removed backends are closed by bpf_sock_destroy() from socket iterators');
  else if (d.method === 'netlink') log.warn({ method: 'netlink', reason: d.reason }, 'sockets connected to removed backends are closed by netlink SOCK_DESTROY (no bpf_sock_destroy kfunc)');
  else log.warn({ method: 'none', reason: d.reason }, 'sockets connected to removed backends cannot be closed on this kernel: they keep talking to the removed backend until their application closes them');
}
