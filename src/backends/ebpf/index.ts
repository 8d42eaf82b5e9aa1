// The eBPF backend: render (pure) → diff against what the kernel holds → apply through the
// addon, and keep tc_lb attached on every interface. Maps live pinned in bpffs, so a
// restarted controller adopts them: it reads them back and reconciles by diff (no flush,
// no gap for established or new flows).
//
// Cost of a sync: a change re-renders only its service port and diffs it against what that
// service port last wrote (`parts`), so it costs the same at 100 or 100k services. A verify
// sync (every sync period) compares the maps' entry counts with the parts and reads the
// maps back only when they differ; a full sync (hourly) re-renders and compares everything.
import { rmSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { type NodeView, nodeViewOf } from '../../model/frontends.js';
import type { ServiceTable } from '../../model/types.js';
import type { Backend, BackendName, InspectRow, SyncOptions, SyncResult, TableUpdate } from '../../proxier/backend.js';
import { apply } from './apply.js';
import { SOCK_PROGRAMS, TcAttacher, attachCgroup, detachCgroup, detachTcEverywhere } from './attach.js';
import { canonicalIp6, LB_SRC_SVC_BITS, MAGLEV_MAX, type MapSizes, SNAT_PORT_MAX, SNAT_PORT_MIN, SVC_F_EXTERNAL, SVC_F_MAGLEV, SVC_F_SRC_RANGE, XDP_CFG_F_LOCAL_REDIRECT, protoName } from './abi.js';
import { type Desired, diff } from './diff.js';
import { type LbTables, lbTables } from './family-maps.js';
import { ConntrackGc } from './conntrack-gc.js';
import { LinkWatcher } from './link-watch.js';
import { XdpAttacher, detachXdpEverywhere, type XdpIfaceState, type XdpSetting } from './xdp-attach.js';
import { BpfError, REPO_ROOT, libbpf } from './libbpf.js';
import { loadDataplane, openPinnedMaps, type Dataplane, type Maps } from './loader.js';
import { flowSeedOf } from './maglev.js';
import { MaglevMaps, readMaglevTables } from './maglev-maps.js';
import { DEFAULT_LB, type LbOptions, type PortRender, kindName, mergeState, releaseIds, renderPort, servesLocalhostNodePorts } from './render.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { PortRange } from '../../util/port-range.js';
import { readDatapathStats, type DatapathStats } from './stats.js';
import { goneTargets, type GoneTarget } from './gone.js';
import { SocketDestroyer, describeDestroyer, type DestroyMethod, type DestroyResult } from './sock-destroy.js';
import { emptyState, idsFromState, slotsFromState, srcRangeId, svcKeyId, type IdState, type MaglevEntry, type MapState } from './state.js';

export interface EbpfBackendOptions {
  /** bpffs directory for maps and programs (default /sys/fs/bpf/bpfproxy). */
  pinRoot?: string;
  /** Directory with tc_lb.bpf.o and sock_lb.bpf.o (default <repo>/bpf/.output). */
  bpfObjectDir?: string;
  /** cgroup v2 directory: attach the socket LB there (clients in the node netns). Unset: no
   * socket LB (the CLI resolves its default, the node's cgroup2 root, in socket-lb.ts). */
  cgroupPath?: string;
  /** Where cgroupPath came from, for the log line that says where the socket LB attached. */
  cgroupPathSource?: string;
  /** Logged with the attach: cgroupPath is only a subtree of the hierarchy. */
  cgroupPathWarning?: string;
  /** Why there is no socket LB (no cgroupPath), logged once at load. */
  socketLbOff?: string;
  /** --socket-lb-host-netns-only: translate only sockets of the node's netns (`netns`, or ours). */
  socketLbHostNetnsOnly?: boolean;
  /** How sockets of removed backends are closed: found at load (default), or forced (tests). */
  socketDestroy?: DestroyMethod;
  /** SNAT source for hairpin traffic (pod → own Service → itself); default: the node's
   * first IPv4 address in the table (what kube-proxy's masquerade shows the pod). */
  hairpinAddress?: string;
  /** SNAT source for external/LB IP traffic to endpoints on other nodes; default: the node's
   * first IPv4 address in the table (NodePort traffic uses the node port's own address). */
  snatAddress?: string;
  /** Source ports for SNATed flows, inclusive; default SNAT_PORT_MIN..SNAT_PORT_MAX. The
   * programs allocate one per flow (unique towards each backend address:port). */
  snatPortRange?: PortRange;
  /** How often flows that are over are deleted from conntrack, in ms; 0 = never (the LRU
   * then makes room by evicting, quiet live flows included). Default 5000. */
  conntrackGcIntervalMs?: number;
  /** Entries of the sized maps (`--bpf-map-sizes`); defaults in bpf/include/abi.h are for 100k services. */
  mapSizes?: MapSizes;
  /** --lb-algorithm, --maglev-table-size, --maglev-seed; default random (DEFAULT_LB). */
  lb?: LbOptions;
  /** --nodeport-addresses: CIDRs; NodePorts answer on the node's addresses inside them (default all). */
  nodePortAddresses?: string[];
  /**
   * --iptables-localhost-nodeports, honoured here too (default true): kube-proxy's switch for
   * NodePorts on 127.0.0.1, which the socket LB serves when --nodeport-addresses covers
   * loopback. Its name says iptables, but it is the one knob an operator has to turn
   * localhost NodePorts off; ignoring it would serve them against an explicit "false".
   */
  localhostNodePorts?: boolean;
  /** --xdp: xdp_lb on the node's external interface(s) in this mode, or off (default auto: native, not on veths). */
  xdp?: XdpSetting;
  /** --xdp-local-redirect: xdp_lb also redirects into local pods' veths (their peers run NAPI). */
  xdpLocalRedirect?: boolean;
  /** Network namespace (/run/netns/NAME) whose interfaces get tc_lb; default: our own. */
  netns?: string;
  /** Attach tc_lb when a link appears (`ip monitor link` events). Default true. */
  watchLinks?: boolean;
  /** How often to look for new interfaces between syncs, in case link events are missed
   * (no iproute2, monitor exited); 0 = only at sync and on link events. Default 1000 ms. */
  interfacePollMs?: number;
  logger?: Logger;
  /** Where bpfproxy_datapath_{packets,drops}_total read the kernel counters from. */
  metrics?: Metrics;
}

export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/bpfproxy';

type Dumpable<M> = M extends { dump(): infer R } ? { dump(): R } : never;

/**
 * The maps as plain data; maglev tables only with `maglev` (they cost M×4 bytes each to read).
 * IPv6 entries come from `services`/`backends`/`revNat` when those are both families' tables
 * (family-maps.ts), or from the optional v6 maps given beside them.
 */
export async function readState(
  maps: { [K in 'services' | 'backends' | 'meta']: Dumpable<Maps[K]> } & Partial<{ [K in 'revNat' | 'srcRange' | 'services6' | 'backends6']: Dumpable<Maps[K]> }>,
  maglev?: () => Promise<Map<number, MaglevEntry>>,
): Promise<MapState> {
  const s = emptyState();
  const [services, backends, revNat, meta, srcRanges, tables, services6, backends6] = await Promise.all([
    maps.services.dump(), maps.backends.dump(), maps.revNat?.dump() ?? [], maps.meta.dump(), maps.srcRange?.dump() ?? [], maglev?.() ?? new Map<number, MaglevEntry>(),
    maps.services6?.dump() ?? [], maps.backends6?.dump() ?? [],
  ]);
  services.push(...services6);
  backends.push(...backends6);
  s.maglev = tables;
  for (const [k] of srcRanges) s.srcRanges.set(srcRangeId(k), k);
  for (const [key, value] of services) s.services.set(svcKeyId(key), { key, value });
  for (const [k, v] of backends) s.backends.set(k.id, v);
  for (const [k, v] of revNat) s.revNat.set(k.id, v);
  for (const [k, v] of meta) s.meta.set(k.id, v);
  return s;
}

export class EbpfBackend implements Backend {
  readonly name: BackendName = 'ebpf';
  readonly pinRoot: string;
  private readonly objectDir: string;
  private readonly log: Logger;
  /** Serve 127.0.0.1:nodePort (see EbpfBackendOptions.localhostNodePorts). */
  private readonly localhostNodePorts: boolean;
  private dp?: Dataplane;
  /** services/backends/rev_nat of both families (family-maps.ts), over dp's maps. */
  private tables?: LbTables;
  private loading?: Promise<Dataplane>;
  private tc?: TcAttacher;
  private xdp?: XdpAttacher;
  /** The Node's addresses at the last sync: where xdp_lb goes (link events re-check them). */
  private nodeAddresses: string[] = [];
  /** Writes (and holds the fds of) the maglev tables. */
  private maglev?: MaglevMaps;
  private readonly lb: LbOptions;
  private poll?: NodeJS.Timeout;
  private polling = false;
  /** A link event arrived during a scan: scan again when it ends. */
  private rescan = false;
  /** A link event arrived since the last XDP check (a new or renamed external interface). */
  private linkEvent = false;
  private links?: LinkWatcher;
  private gc?: ConntrackGc;
  /** Closes sockets the socket LB connected to removed backends (only with a socket LB). */
  private destroyer?: SocketDestroyer;
  /** What each service port last wrote (by key): the kernel state of that port, as far as we know. */
  private parts = new Map<string, PortRender>();
  /** Frontend id → the service port that holds it; and who else wants it. */
  private readonly owner = new Map<string, string>();
  private readonly waiting = new Map<string, Set<string>>();
  /** The maps as read at adoption (slot order and ids survive a restart); dropped after the first sync. */
  private adopted?: MapState;
  private ids: IdState = idsFromState(emptyState());
  private lastView = '';
  private persistedIds = '';
  /** Where the last sync's map work went (render, diff, apply), for the bench and debug logs. */
  lastTimings = { renderMs: 0, diffMs: 0, applyMs: 0 };
  /** What the last sync did (tests and debug logs). */
  lastSync = { ops: 0, applied: 0, failed: 0, attached: [] as string[] };
  /** What the last sync's socket destruction did (undefined: no backend went away). */
  lastDestroy?: DestroyResult & { targets: number };

  constructor(private readonly opts: EbpfBackendOptions = {}) {
    this.pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
    this.objectDir = opts.bpfObjectDir ?? path.join(REPO_ROOT, 'bpf/.output');
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ backend: 'ebpf' });
    this.localhostNodePorts = servesLocalhostNodePorts(opts);
    this.lb = opts.lb ?? DEFAULT_LB;
  }

  /** Loads the programs (maps reused from bpffs when pinned) and adopts the tables. */
  private async ensureLoaded(): Promise<Dataplane> {
    if (this.dp) return this.dp;
    this.loading ??= (async () => {
      const dp = await loadDataplane({ pinRoot: this.pinRoot, objectDir: this.objectDir, mapSizes: this.opts.mapSizes, log: (msg) => this.log.warn(msg) });
      let tc: TcAttacher;
      try {
        this.tables = lbTables(dp.maps);
        this.maglev = new MaglevMaps(dp.maps.maglev, dp.maps.maglevCfg);
        // Before adopting: tables of another size or seed are dropped, not adopted.
        if (await this.maglev.configure({ tableSize: this.lb.tableSize, flowSeed: flowSeedOf(this.lb.seed) }))
          this.log.info({ tableSize: this.lb.tableSize }, 'maglev tables of another size or seed dropped; rebuilt by this sync');
        this.adopted = await this.readKernel(dp);
        this.ids = idsFromState(this.adopted);
        // The allocator's own record wins over max + 1 of what the tables still hold.
        const stored = dp.maps.ids.lookup({ id: 0 });
        if (stored) {
          this.ids.nextSvc = Math.max(this.ids.nextSvc, stored.nextSvc);
          this.ids.nextBackend = Math.max(this.ids.nextBackend, stored.nextBackend);
          this.ids.nextSp = Math.max(this.ids.nextSp, stored.nextSp);
        }
        // Entries of an older version get the current layout before our programs attach.
        const converted = await this.conntrackGc(dp).convert();
        if (converted) this.log.info({ entries: converted }, 'conntrack entries of an older version converted');
        this.pinPrograms(dp);
        await this.attachSocketLb(dp);
        tc = new TcAttacher({ ethernet: dp.tc.fd, l3: dp.tcL3.fd }, this.opts.netns);
        const xdp = this.opts.xdp ?? 'auto';
        // Before xdp_lb is attached (a replaced one reads it at once too).
        dp.maps.xdpCfg.update({ id: 0 }, { flags: this.opts.xdpLocalRedirect ? XDP_CFG_F_LOCAL_REDIRECT : 0 });
        if (xdp !== 'off') this.xdp = new XdpAttacher(dp.xdp.fd, xdp, this.log, this.opts.netns);
        else {
          const left = await detachXdpEverywhere(this.opts.netns);
          this.log.info({ detached: left }, '--xdp=off: no XDP fast path; tc_lb serves external traffic');
        }
      } catch (e) {
        this.maglev?.close();
        this.maglev = undefined;
        this.destroyer?.close();
        this.destroyer = undefined;
        dp.close();
        throw e;
      }
      this.tc = tc;
      if (this.opts.watchLinks ?? true) {
        this.links = new LinkWatcher(() => {
          this.linkEvent = true;
          void this.pollInterfaces();
        }, this.log, this.opts.netns);
        this.links.start();
      }
      this.gc!.start(this.opts.conntrackGcIntervalMs ?? 5000);
      const pollMs = this.opts.interfacePollMs ?? 1000;
      if (pollMs > 0) {
        this.poll = setInterval(() => void this.pollInterfaces(), pollMs);
        this.poll.unref();
      }
      this.log.info(
        { pinRoot: this.pinRoot, adopted: { services: this.adopted?.services.size ?? 0, backends: this.adopted?.backends.size ?? 0 } },
        'eBPF data plane loaded',
      );
      this.dp = dp;
      const datapath = this.opts.metrics?.datapath;
      if (datapath) datapath.read = () => this.stats();
      return dp;
    })();
    try {
      return await this.loading;
    } finally {
      this.loading = undefined;
    }
  }

  /**
   * The socket LB: its scope first (sock_lb_cfg, before any hook runs with it), then the
   * cgroup hooks, then how sockets of removed backends will be closed. Each said once.
   */
  private async attachSocketLb(dp: Dataplane): Promise<void> {
    const cg = this.opts.cgroupPath;
    if (!cg) {
      // Asked for: info; no cgroup2 to attach to: a warning.
      const off = this.opts.socketLbOff;
      if (off) this.log[off === '--socket-lb=false' ? 'info' : 'warn']({ reason: off }, 'socket LB off: host-network clients reach Services only through tc_lb on the interfaces their packets come in by');
      return;
    }
    const hostOnly = this.opts.socketLbHostNetnsOnly ?? false;
    const netnsCookie = hostOnly ? await libbpf.netnsCookie(this.opts.netns) : 0n;
    dp.maps.sockCfg.update({ id: 0 }, { netnsCookie });
    attachCgroup(cg, dp.sock);
    if (this.opts.cgroupPathWarning) this.log.warn({ cgroup: cg }, this.opts.cgroupPathWarning);
    this.log.info(
      { cgroup: cg, from: this.opts.cgroupPathSource ?? '--cgroup-path', hostNetnsOnly: hostOnly, ...(hostOnly ? { netnsCookie: String(netnsCookie) } : {}) },
      hostOnly ? 'socket LB attached: sockets of the node network namespace only' : 'socket LB attached: connect/sendmsg/recvmsg/getpeername of every process in this cgroup',
    );
    this.destroyer = await SocketDestroyer.open({
      objectDir: this.objectDir, pinRoot: this.pinRoot, netns: this.opts.netns, sockRev: dp.maps.sockRev, sockRev6: dp.maps.sockRev6, only: this.opts.socketDestroy,
    });
    describeDestroyer(this.destroyer, this.log);
  }

  /** Closes what the sync orphaned; a failure is logged, never fails the sync (the maps are right). */
  private async closeGoneSockets(targets: GoneTarget[]): Promise<void> {
    if (!this.destroyer || targets.length === 0) return;
    try {
      const r = await this.destroyer.destroy(targets);
      this.lastDestroy = { ...r, targets: targets.length };
      for (const [proto, n] of Object.entries(r.destroyed)) if (n) this.opts.metrics?.socketsDestroyed.inc({ protocol: proto, method: this.destroyer.method }, n);
      if (r.destroyed.tcp || r.destroyed.udp || r.failed.length)
        this.log.info({ destroyed: r.destroyed, failed: r.failed, method: this.destroyer.method, ms: r.ms }, 'sockets connected to removed backends closed');
    } catch (e) {
      this.log.warn({ err: e, method: this.destroyer.method }, 'closing sockets of removed backends failed');
    }
  }

  /** How sockets of removed backends are closed here, and why not a better way (undefined: no socket LB). */
  get socketDestroy(): { method: DestroyMethod; reason: string } | undefined {
    return this.destroyer && { method: this.destroyer.method, reason: this.destroyer.reason };
  }

  private conntrackGc(dp: Dataplane): ConntrackGc {
    const m = this.opts.metrics;
    this.gc = new ConntrackGc(
      dp.maps.conntrack,
      (p) => {
        m?.conntrackEntries.set(p.scanned - p.deleted);
        m?.conntrackGcDeleted.inc(p.deleted);
        m?.conntrackGcDuration.observe(p.durationMs / 1000);
        if (p.deleted) this.log.debug(p, 'conntrack garbage collected');
      },
      (e) => this.log.warn({ err: e }, 'conntrack garbage collection failed; retried next period'),
      dp.maps.conntrack6,
    );
    return this.gc;
  }

  /** Pinned programs let `bpftool prog show pinned` find what is attached. */
  private pinPrograms(dp: Dataplane): void {
    for (const p of [dp.tc, dp.tcL3, dp.xdp, ...dp.sock]) {
      const pin = path.join(this.pinRoot, `prog_${p.name}`);
      rmSync(pin, { force: true });
      libbpf.pin(p.fd, pin);
    }
  }

  async sync(update: TableUpdate, opts: SyncOptions): Promise<SyncResult> {
    const { table } = update;
    const dp = await this.ensureLoaded();
    this.writeConfig(dp, table);
    const view = nodeViewOf(table, this.opts.nodePortAddresses);
    const viewKey = JSON.stringify(view);
    const viewChanged = viewKey !== this.lastView;
    this.lastView = viewKey;
    const failed = new Map<string, string>();
    // A full sync (or a table with no change list, or new node addresses) re-renders every
    // service port against a read of the maps; a verify sync reads them only if it finds
    // other entry counts than `parts` wrote, then repairs them from `parts`.
    const all = opts.full || !update.changes || viewChanged || this.adopted !== undefined;
    const keys = all ? new Set([...table.services.keys(), ...this.parts.keys()]) : new Set(update.changes!.map((c) => c.key));
    const kernel = all ? await this.readKernel(dp) : opts.verify ? await this.readIfDrifted(dp) : undefined;
    const res = await this.syncPorts(dp, table, view, keys, kernel, failed);
    this.adopted = undefined;
    this.lastDestroy = undefined;
    await this.closeGoneSockets(res.gone);
    this.reportMapUse(dp);
    for (const reason of failed.values()) {
      const full = /^map (\S+) is full/.exec(reason);
      if (full) this.opts.metrics?.bpfMapFull.inc({ map: full[1]! });
    }

    // New interfaces get tc_lb from link events and the poll; a sync looks for them itself
    // only when it checks the kernel anyway, or when nothing else would (no watch, no poll).
    const lookForLinks = opts.full || opts.verify || !this.links || !this.poll;
    const att = lookForLinks ? await this.tc!.ensure({ verify: opts.full || opts.verify }) : { attached: [], errors: [] };
    this.lastSync = { ops: res.ops, applied: res.applied, failed: failed.size, attached: att.attached };
    if (att.attached.length) this.log.info({ interfaces: att.attached }, 'tc_lb attached');
    for (const e of att.errors) this.log.error({ op: e.op, err: e }, 'tc attach failed');
    this.nodeAddresses = table.nodes.get(table.nodeName)?.addresses ?? [];
    if (lookForLinks || this.xdp?.status().length === 0) await this.ensureXdp({ verify: opts.full || opts.verify });
    // Without tc_lb on an interface nothing works there: the whole sync is retried.
    if (att.errors.length) throw new Error(`tc attach failed: ${att.errors.map((e) => e.message).join('; ')}`);
    return { failed: [...failed] };
  }

  /**
   * Renders `keys` (plus service ports waiting for a frontend they free), writes the
   * difference and keeps `parts` as the kernel now holds them. With `kernel` (a fresh read
   * of the maps) the difference is taken against it over every entry, which also removes
   * entries nobody owns and repairs edits made behind our back.
   */
  private async syncPorts(
    dp: Dataplane, table: ServiceTable, view: NodeView, keys: Set<string>, kernel: MapState | undefined, failed: Map<string, string>,
  ): Promise<{ ops: number; applied: number; gone: GoneTarget[] }> {
    const t0 = performance.now();
    const old = new Map<string, PortRender | undefined>();
    const next = new Map<string, PortRender | undefined>();
    const adoptedSlots = this.adopted && slotsFromState(this.adopted);
    const release = (key: string) => {
      const p = this.parts.get(key);
      old.set(key, p);
      for (const fid of p?.slots.keys() ?? []) if (this.owner.get(fid) === key) this.owner.delete(fid);
    };
    const renderKey = (key: string) => {
      const entry = table.services.get(key);
      if (!entry) return next.set(key, undefined);
      const prev = old.get(key);
      const claim = (fid: string) => {
        const o = this.owner.get(fid);
        if (o === undefined || o === key) return this.owner.set(fid, key), true;
        let w = this.waiting.get(fid);
        if (!w) this.waiting.set(fid, (w = new Set()));
        w.add(key);
        return false;
      };
      next.set(key, renderPort(entry, {
        view, ids: this.ids, claim, previousSlots: (fid) => prev?.slots.get(fid) ?? adoptedSlots?.get(fid), localhostNodePorts: this.localhostNodePorts, lb: this.lb,
      }));
    };
    const sorted = [...keys].sort();
    sorted.forEach(release);
    sorted.forEach(renderKey);
    // Frontends these keys gave up go to the service ports that were waiting for them.
    const freed = [...old.values()].flatMap((p) => [...(p?.slots.keys() ?? [])]).filter((fid) => !this.owner.has(fid));
    const extra = [...new Set(freed.flatMap((fid) => [...(this.waiting.get(fid) ?? [])]))].filter((k) => !next.has(k)).sort();
    for (const fid of freed) this.waiting.delete(fid);
    extra.forEach(release);
    extra.forEach(renderKey);

    const t1 = performance.now();
    // What the maps should hold: with a kernel read, every service port's entries (and
    // nothing else); otherwise only the re-rendered ports', against what they held.
    const wanted: PortRender[] = [];
    if (kernel) for (const [key, p] of this.parts) if (!next.has(key)) wanted.push(p);
    for (const p of next.values()) if (p) wanted.push(p);
    let current: MapState;
    if (kernel) current = kernel;
    else {
      current = emptyState();
      for (const p of old.values()) if (p) mergeState(current, p.state);
    }
    const desired = desiredOfParts(wanted);
    const ops = diff(current, desired);
    // Before apply, which mirrors its ops into `current`: the backends it deletes, as they were.
    const deleted = ops.flatMap((op) => (op.map === 'backends' && op.kind === 'delete' ? [op.id] : []));
    const gone = this.destroyer && deleted.length ? goneTargets(current, wanted.map((p) => p.state), deleted) : [];
    // Ids this render handed out are recorded before any entry carries them.
    this.persistIds(dp);
    const t2 = performance.now();
    const res = await apply({ ...dp.maps, ...this.tables!, maglev: this.maglev! }, ops, current);
    const ms = (a: number, b: number) => +(b - a).toFixed(2);
    this.lastTimings = { renderMs: ms(t0, t1), diffMs: ms(t1, t2), applyMs: ms(t2, performance.now()) };
    if (ops.length) this.log.debug({ ops: ops.length, applied: res.applied, batchFallbacks: res.fallbacks, ...this.lastTimings }, 'maps synced');

    const failedSp = new Map([...res.failures.values()].map((f) => [f.unit, f]));
    for (const [key, p] of next) {
      const prev = old.get(key);
      const f = failedSp.get(p?.spId ?? prev?.spId ?? -1);
      if (f) {
        failed.set(key, failureReason(f.op, f.error, dp.maps));
        // It keeps what it had: give back its old frontends.
        for (const fid of p?.slots.keys() ?? []) if (this.owner.get(fid) === key) this.owner.delete(fid);
        for (const fid of prev?.slots.keys() ?? []) this.owner.set(fid, key);
        if (prev) this.parts.set(key, prev);
        else this.parts.delete(key);
        continue;
      }
      if (JSON.stringify(p?.skipped ?? []) !== JSON.stringify(prev?.skipped ?? []))
        for (const x of p?.skipped ?? []) this.log.warn({ service: x.service, reason: x.reason }, 'service port skipped');
      releaseIds(this.ids, prev, p);
      if (p) this.parts.set(key, p);
      else this.parts.delete(key);
    }
    // Entries that no service port owns (kernel reads only) failing to delete: retried next verify.
    if (failedSp.has(0)) this.log.warn({ op: failedSp.get(0)!.op, err: failedSp.get(0)!.error }, 'stale map entries not removed');
    // A service port that failed kept its backends: its sockets stay.
    return { ops: ops.length, applied: res.applied, gone: gone.filter((t) => !failedSp.has(t.spId)) };
  }

  /**
   * A verify sync's check for edits behind our back: entry counts per map against what the
   * service ports wrote (no entry decoded: cheap at 100k services). Only on a difference
   * are the maps read and repaired; an entry changed in place is repaired by the next full
   * sync (hourly), as kube-proxy's canary catches flushes, not edits.
   */
  private async readIfDrifted(dp: Dataplane): Promise<MapState | undefined> {
    const want = this.partCounts();
    const t = this.tables!;
    const [services, backends, revNat, meta, srcRanges, maglev] = await Promise.all([
      t.services.count(), t.backends.count(), t.revNat.count(), dp.maps.meta.count(), dp.maps.srcRange.count(), this.maglev!.count(),
    ]);
    const have = { services, backends, revNat, meta, srcRanges, maglev };
    if ((Object.keys(want) as (keyof typeof want)[]).every((k) => want[k] === have[k])) return undefined;
    this.log.warn({ want, have }, 'maps changed behind our back: reading them back to repair');
    return this.readKernel(dp);
  }

  /** The maps as the kernel holds them, the maglev tables adopted (their fds kept for reuse). */
  private readKernel(dp: Dataplane): Promise<MapState> {
    const maglev = this.maglev!;
    return readState({ ...dp.maps, ...this.tables! }, () => maglev.read());
  }

  /** Entries per service map that the service ports wrote (what the maps hold after a sync). */
  private partCounts(): { services: number; backends: number; revNat: number; meta: number; srcRanges: number; maglev: number } {
    const n = { services: 0, backends: 0, revNat: 0, meta: 0, srcRanges: 0, maglev: 0 };
    for (const p of this.parts.values()) {
      n.services += p.state.services.size;
      n.backends += p.state.backends.size;
      n.revNat += p.state.revNat.size;
      n.meta += p.state.meta.size;
      n.srcRanges += p.state.srcRanges.size;
      n.maglev += p.state.maglev.size;
    }
    return n;
  }

  /** bpfproxy_bpf_map_entries / _capacity: how close each service map is to full. */
  private reportMapUse(dp: Dataplane): void {
    const m = this.opts.metrics;
    if (!m) return;
    const n = this.partCounts();
    const maps = {
      services: [n.services, dp.maps.services], backends: [n.backends, dp.maps.backends], rev_nat: [n.revNat, dp.maps.revNat], svc_meta: [n.meta, dp.maps.meta],
      lb_src_range: [n.srcRanges, dp.maps.srcRange], maglev: [n.maglev, dp.maps.maglev],
    } as const;
    for (const [name, [entries, map]] of Object.entries(maps)) {
      m.bpfMapEntries.set({ map: name }, entries);
      m.bpfMapCapacity.set({ map: name }, map.maxEntries);
    }
  }

  private persistIds(dp: Dataplane): void {
    const { nextSvc, nextBackend, nextSp } = this.ids;
    const key = `${nextSvc}/${nextBackend}/${nextSp}`;
    if (key === this.persistedIds) return;
    dp.maps.ids.update({ id: 0 }, { nextSvc, nextBackend, nextSp });
    this.persistedIds = key;
  }

  private writeConfig(dp: Dataplane, table: ServiceTable): void {
    const nodeIP = table.nodes.get(table.nodeName)?.addresses.find((a) => isIPv4(a));
    const want = {
      // The socket LB's source for loadBalancerSourceRanges (kube-proxy checks the node IP).
      nodeAddr: nodeIP ?? '0.0.0.0',
      hairpinAddr: flag4(this.opts.hairpinAddress) ?? nodeIP ?? '0.0.0.0',
      snatAddr: flag4(this.opts.snatAddress) ?? nodeIP ?? '0.0.0.0',
      snatPortMin: this.opts.snatPortRange?.min ?? SNAT_PORT_MIN,
      snatPortMax: this.opts.snatPortRange?.max ?? SNAT_PORT_MAX,
    };
    const cur = dp.maps.config.lookup({ id: 0 });
    if (!cur || (Object.keys(want) as (keyof typeof want)[]).some((k) => cur[k] !== want[k])) dp.maps.config.update({ id: 0 }, want);
    // IPv6: the node's first IPv6 address, unless the flag names an IPv6 address itself.
    const node6 = table.nodes.get(table.nodeName)?.addresses.find((a) => isIPv6(a));
    const flag6 = (a: string | undefined) => (a !== undefined && isIPv6(a) ? a : undefined);
    const want6 = {
      nodeAddr: canonical6(node6),
      hairpinAddr: canonical6(flag6(this.opts.hairpinAddress) ?? node6),
      snatAddr: canonical6(flag6(this.opts.snatAddress) ?? node6),
    };
    const cur6 = dp.maps.config6.lookup({ id: 0 });
    if (!cur6 || (Object.keys(want6) as (keyof typeof want6)[]).some((k) => cur6[k] !== want6[k])) dp.maps.config6.update({ id: 0 }, want6);
  }

  private async pollInterfaces(): Promise<void> {
    if (this.polling) {
      this.rescan = true;
      return;
    }
    this.polling = true;
    try {
      do {
        this.rescan = false;
        if (!this.tc) return;
        const att = await this.tc.ensure();
        if (att.attached.length) this.log.info({ interfaces: att.attached }, 'tc_lb attached');
        for (const e of att.errors) this.log.error({ op: e.op, err: e }, 'tc attach failed');
        // The external interface is rarely new: asked only when a link appeared.
        if (this.linkEvent || att.attached.length) {
          this.linkEvent = false;
          await this.ensureXdp();
        }
      } while (this.rescan);
    } catch (e) {
      this.log.warn({ err: e }, 'interface scan failed');
    } finally {
      this.polling = false;
    }
  }

  /** xdp_lb onto the external interfaces; a failure leaves them to tc_lb (said, never fatal). */
  private async ensureXdp(opts: { verify?: boolean } = {}): Promise<void> {
    if (!this.xdp || this.nodeAddresses.length === 0) return;
    try {
      const r = await this.xdp.ensure(this.nodeAddresses, opts);
      if (r.attached.length) this.log.info({ interfaces: r.attached, mode: this.xdp.mode }, 'xdp_lb attached');
    } catch (e) {
      this.log.warn({ err: e }, 'XDP attach scan failed; tc_lb serves external traffic meanwhile');
    }
    const m = this.opts.metrics;
    if (m) {
      m.xdpAttached.reset();
      for (const s of this.xdp.status()) m.xdpAttached.set({ interface: s.interface, mode: s.mode }, s.mode === 'none' ? 0 : 1);
    }
  }

  /** Where xdp_lb is attached (and where the mode was refused); undefined with --xdp=off. */
  get xdpStatus(): XdpIfaceState[] | undefined {
    return this.xdp?.status();
  }

  /** Reads the kernel maps back. Without a loaded data plane (e.g. `bpfproxy inspect` in
   * its own process) it only opens the pinned maps: inspecting never changes anything. */
  async inspect(): Promise<InspectRow[]> {
    if (this.dp) return inspectRows(await readState({ ...this.dp.maps, ...this.tables! }), this.dp.maps.maglevCfg.lookup({ id: 0 })?.tableSize);
    const pinned = openPinnedMaps(this.pinRoot);
    if (!pinned) return [];
    try {
      return inspectRows(await readState(pinned.maps), pinned.maps.maglevCfg?.lookup({ id: 0 })?.tableSize);
    } finally {
      pinned.close();
    }
  }

  /** The service maps as the kernel holds them, maglev tables included while loaded (undefined: nothing pinned). */
  async kernelState(): Promise<MapState | undefined> {
    if (this.dp) {
      const outer = this.dp.maps.maglev;
      return readState({ ...this.dp.maps, ...this.tables! }, () => readMaglevTables(outer));
    }
    const pinned = openPinnedMaps(this.pinRoot);
    if (!pinned) return undefined;
    try {
      return await readState(pinned.maps);
    } finally {
      pinned.close();
    }
  }

  /** tc_lb's packet and drop counters, while the data plane is loaded. */
  stats(): DatapathStats | undefined {
    return this.dp ? readDatapathStats(this.dp.maps.statsFd) : undefined;
  }

  /** Detaches everything (tc on every interface, cgroup hooks) and removes the pin dir. */
  async cleanup(): Promise<void> {
    const detached = await detachTcEverywhere(this.opts.netns);
    const xdp = await detachXdpEverywhere(this.opts.netns);
    let cg = 0;
    if (this.opts.cgroupPath) {
      try {
        cg = detachCgroup(this.opts.cgroupPath, SOCK_PROGRAMS.map((p) => p.name), SOCK_PROGRAMS.map((p) => p.attachType));
      } catch (e) {
        if (!(e instanceof BpfError && e.code === 'ENOENT')) throw e;
      }
    }
    await this.close();
    rmSync(this.pinRoot, { recursive: true, force: true });
    this.parts.clear();
    this.persistedIds = '';
    this.owner.clear();
    this.waiting.clear();
    this.ids = idsFromState(emptyState());
    this.log.info({ interfaces: detached, xdpInterfaces: xdp, cgroupPrograms: cg, pinRoot: this.pinRoot }, 'eBPF data plane removed');
  }

  /** Closes our fds; pinned maps and attached programs keep working. */
  async close(): Promise<void> {
    clearInterval(this.poll);
    this.poll = undefined;
    this.gc?.stop();
    this.gc = undefined;
    this.maglev?.close();
    this.maglev = undefined;
    this.destroyer?.close();
    this.destroyer = undefined;
    this.links?.stop();
    this.links = undefined;
    this.dp?.close();
    this.dp = undefined;
    this.tables = undefined;
    this.tc = undefined;
    this.xdp = undefined;
  }
}

/** Factory used by src/backends/factory.ts. */
export async function createEbpfBackend(cfg: {
  pinRoot?: string;
  cgroupPath?: string;
  cgroupPathSource?: string;
  cgroupPathWarning?: string;
  socketLbOff?: string;
  socketLbHostNetnsOnly?: boolean;
  hairpinAddress?: string;
  snatAddress?: string;
  snatPortRange?: PortRange;
  conntrackGcIntervalMs?: number;
  nodePortAddresses?: string[];
  localhostNodePorts?: boolean;
  mapSizes?: MapSizes;
  lb?: LbOptions;
  xdp?: XdpSetting;
  xdpLocalRedirect?: boolean;
  logger?: Logger;
  metrics?: Metrics;
}): Promise<Backend> {
  const {
    pinRoot, cgroupPath, cgroupPathSource, cgroupPathWarning, socketLbOff, socketLbHostNetnsOnly, hairpinAddress, snatAddress, snatPortRange, conntrackGcIntervalMs, nodePortAddresses, localhostNodePorts,
    mapSizes, lb, xdp, xdpLocalRedirect, logger, metrics,
  } = cfg;
  return new EbpfBackend({
    pinRoot, cgroupPath, cgroupPathSource, cgroupPathWarning, socketLbOff, socketLbHostNetnsOnly, hairpinAddress, snatAddress, snatPortRange, conntrackGcIntervalMs, nodePortAddresses,
    localhostNodePorts, mapSizes, lb, xdp, xdpLocalRedirect, logger, metrics,
  });
}

/** An address flag for lb_config: IPv4 only (an IPv6 one goes to lb6_config). */
function flag4(a: string | undefined): string | undefined {
  return a !== undefined && isIPv4(a) ? a : undefined;
}

/** An IPv6 address as the map reads it back ('::' for none). */
function canonical6(ip: string | undefined): string {
  return ip === undefined ? '::' : canonicalIp6(ip);
}

/** The parts as diff()'s Desired: entries looked up in the part that owns them. */
function desiredOfParts(parts: readonly PortRender[]): Desired {
  const bySvc = new Map<number, PortRender>();
  const bySp = new Map<number, PortRender>();
  const byFid = new Map<string, PortRender>();
  for (const p of parts) {
    bySp.set(p.spId, p);
    for (const f of p.frontends) bySvc.set(f.svcId, p);
    for (const fid of p.slots.keys()) byFid.set(fid, p);
  }
  return {
    parts: parts.map((p) => p.state),
    // By the key's frontend, not the kernel entry's svc_id (which may be stale).
    hasService: (keyId) => byFid.get(keyId.slice(0, keyId.lastIndexOf('#')))?.state.services.has(keyId) ?? false,
    hasBackend: (id, spId) => bySp.get(spId)?.state.backends.has(id) ?? false,
    hasFrontend: (svcId) => bySvc.get(svcId)?.state.revNat.has(svcId) ?? false,
    hasSrcRange: (keyId, svcId) => bySvc.get(svcId)?.state.srcRanges.has(keyId) ?? false,
    hasMaglev: (svcId) => bySvc.get(svcId)?.state.maglev.has(svcId) ?? false,
  };
}

/** The reason a service port was not written; a full map says which and how to grow it. */
function failureReason(op: string, error: unknown, maps: Maps): string {
  if (error instanceof BpfError && error.code === 'E2BIG') {
    const name = (['services', 'backends', 'rev_nat', 'svc_meta', 'lb_src_range', 'maglev'] as const).find((m) => op.includes(` ${m} `));
    const max = name && { services: maps.services, backends: maps.backends, rev_nat: maps.revNat, svc_meta: maps.meta, lb_src_range: maps.srcRange, maglev: maps.maglev }[name].maxEntries;
    const grow =
      name === 'lb_src_range' ? 'its size is fixed (BPFPROXY_LB_SRC_MAX in abi.h)'
      : name === 'maglev' ? `its size is fixed (BPFPROXY_MAGLEV_MAX = ${MAGLEV_MAX} in abi.h)`
      : `raise --bpf-map-sizes ${name}=N`;
    if (name) return `map ${name} is full (${max} entries): not written, it keeps its previous state; ${grow} (${op})`;
  }
  return `${op}: ${error instanceof Error ? error.message : String(error)}`;
}

/** The source CIDRs lb_src_range holds for one frontend, sorted. */
function rangesOf(state: MapState, svcId: number): string[] {
  const out: string[] = [];
  for (const k of state.srcRanges.values()) if (k.svcId === svcId) out.push(`${k.addr}/${k.prefixlen - LB_SRC_SVC_BITS}`);
  return out.sort();
}

/** address:port, an IPv6 address in brackets. */
function hostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** `maglevTableSize`: maglev_cfg's M, shown with each SVC_F_MAGLEV frontend. */
export function inspectRows(state: MapState, maglevTableSize?: number): InspectRow[] {
  const rows: InspectRow[] = [];
  for (const { key, value } of state.services.values()) {
    if (key.slot !== 0) continue;
    const meta = state.meta.get(value.svcId);
    const backends: string[] = [];
    for (let slot = 1; slot <= value.count; slot++) {
      const s = state.services.get(svcKeyId({ ...key, slot }));
      const b = s && state.backends.get(s.value.backendId);
      backends.push(b ? hostPort(b.ip, b.port) : `(missing backend ${s?.value.backendId ?? '?'})`);
    }
    rows.push({
      service: meta?.name ?? `svc_id ${value.svcId}`,
      protocol: protoName(key.proto),
      frontend: hostPort(key.vip, key.port),
      kind: (meta && kindName(meta.kind)) ?? (value.flags & SVC_F_EXTERNAL ? 'ExternalIP' : 'ClusterIP'),
      backends: backends.sort(),
      ...(value.flags & SVC_F_SRC_RANGE ? { sourceRanges: rangesOf(state, value.svcId) } : {}),
      ...(value.flags & SVC_F_MAGLEV ? { algorithm: 'maglev', ...(maglevTableSize ? { maglevTableSize } : {}) } : {}),
    });
  }
  return rows.sort((a, b) => a.service.localeCompare(b.service) || a.frontend.localeCompare(b.frontend) || a.protocol.localeCompare(b.protocol));
}
