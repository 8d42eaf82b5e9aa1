// The eBPF backend: render (pure) → diff against what the kernel holds → apply through the
// addon, and keep tc_lb attached on every interface. Maps live pinned in bpffs, so a
// restarted controller adopts them: it reads them back and reconciles by diff (no flush,
// no gap for established or new flows).
import { rmSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { ServiceTable, TableDiff } from '../../model/types.js';
import type { Backend, BackendName, InspectRow, SyncOptions } from '../../proxier/backend.js';
import { apply } from './apply.js';
import { SOCK_PROGRAMS, TcAttacher, attachCgroup, detachCgroup, detachTcEverywhere } from './attach.js';
import { SNAT_PORT_MAX, SNAT_PORT_MIN, SVC_F_EXTERNAL, protoName } from './abi.js';
import { diff } from './diff.js';
import { ConntrackGc } from './conntrack-gc.js';
import { LinkWatcher } from './link-watch.js';
import { BpfError, REPO_ROOT, libbpf } from './libbpf.js';
import { loadDataplane, openPinnedMaps, type Dataplane, type Maps } from './loader.js';
import { kindName, render } from './render.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { PortRange } from '../../util/port-range.js';
import { readDatapathStats, type DatapathStats } from './stats.js';
import { emptyState, idsFromState, svcKeyId, type IdState, type MapState } from './state.js';

export interface EbpfBackendOptions {
  /** bpffs directory for maps and programs (default /sys/fs/bpf/bpfproxy). */
  pinRoot?: string;
  /** Directory with tc_lb.bpf.o and sock_lb.bpf.o (default <repo>/bpf/.output). */
  bpfObjectDir?: string;
  /** cgroup v2 directory: attach the socket LB there (clients in the node netns). */
  cgroupPath?: string;
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

/** Some frontends could not be programmed; each keeps its previous state. */
export class EbpfSyncError extends Error {
  override readonly name = 'EbpfSyncError';
  constructor(readonly failures: Array<{ service: string; op: string; error: unknown }>) {
    super(
      'ebpf sync failed for ' +
        failures.map((f) => `${f.service} (${f.op}: ${f.error instanceof Error ? f.error.message : String(f.error)})`).join('; '),
    );
  }
}

export async function readState(maps: Pick<Maps, 'services' | 'backends' | 'meta'> & Partial<Pick<Maps, 'revNat'>>): Promise<MapState> {
  const s = emptyState();
  const [services, backends, revNat, meta] = await Promise.all([
    maps.services.dump(), maps.backends.dump(), maps.revNat?.dump() ?? [], maps.meta.dump(),
  ]);
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
  private dp?: Dataplane;
  private loading?: Promise<Dataplane>;
  private tc?: TcAttacher;
  private poll?: NodeJS.Timeout;
  private polling = false;
  /** A link event arrived during a scan: scan again when it ends. */
  private rescan = false;
  private links?: LinkWatcher;
  private gc?: ConntrackGc;
  private current: MapState = emptyState();
  private ids: IdState = idsFromState(emptyState());
  private lastSkipped = '';
  /** What the last sync did (tests and debug logs). */
  lastSync = { ops: 0, applied: 0, failed: 0, attached: [] as string[] };

  constructor(private readonly opts: EbpfBackendOptions = {}) {
    this.pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
    this.objectDir = opts.bpfObjectDir ?? path.join(REPO_ROOT, 'bpf/.output');
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ backend: 'ebpf' });
  }

  /** Loads the programs (maps reused from bpffs when pinned) and adopts the tables. */
  private async ensureLoaded(): Promise<Dataplane> {
    if (this.dp) return this.dp;
    this.loading ??= (async () => {
      const dp = await loadDataplane({ pinRoot: this.pinRoot, objectDir: this.objectDir });
      let tc: TcAttacher;
      try {
        this.current = await readState(dp.maps);
        this.ids = idsFromState(this.current);
        // Entries of an older version get the current layout before our programs attach.
        const converted = await this.conntrackGc(dp).convert();
        if (converted) this.log.info({ entries: converted }, 'conntrack entries of an older version converted');
        this.pinPrograms(dp);
        if (this.opts.cgroupPath) attachCgroup(this.opts.cgroupPath, dp.sock);
        tc = new TcAttacher({ ethernet: dp.tc.fd, l3: dp.tcL3.fd }, this.opts.netns);
      } catch (e) {
        dp.close();
        throw e;
      }
      this.tc = tc;
      if (this.opts.watchLinks ?? true) {
        this.links = new LinkWatcher(() => void this.pollInterfaces(), this.log, this.opts.netns);
        this.links.start();
      }
      this.gc!.start(this.opts.conntrackGcIntervalMs ?? 5000);
      const pollMs = this.opts.interfacePollMs ?? 1000;
      if (pollMs > 0) {
        this.poll = setInterval(() => void this.pollInterfaces(), pollMs);
        this.poll.unref();
      }
      this.log.info(
        { pinRoot: this.pinRoot, adopted: { services: this.current.services.size, backends: this.current.backends.size } },
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
    );
    return this.gc;
  }

  /** Pinned programs let `bpftool prog show pinned` find what is attached. */
  private pinPrograms(dp: Dataplane): void {
    for (const p of [dp.tc, dp.tcL3, ...dp.sock]) {
      const pin = path.join(this.pinRoot, `prog_${p.name}`);
      rmSync(pin, { force: true });
      libbpf.pin(p.fd, pin);
    }
  }

  async sync(table: ServiceTable, _diff: TableDiff, opts: SyncOptions): Promise<void> {
    const dp = await this.ensureLoaded();
    // A full or periodic sync trusts the kernel, not our mirror (someone may have edited the maps).
    if (opts.full || opts.verify) this.current = await readState(dp.maps);
    this.writeConfig(dp, table);
    const r = render(table, this.ids);
    this.logSkipped(r.skipped);
    const ops = diff(this.current, r.desired);
    const res = await apply(dp.maps, ops, this.current);
    this.ids = r.ids;
    if (ops.length) this.log.debug({ ops: ops.length, applied: res.applied, batchFallbacks: res.fallbacks }, 'maps synced');

    const failures: Array<{ service: string; op: string; error: unknown }> = [];
    for (const f of res.failures.values()) {
      const info = r.frontends.get(f.svcId);
      const service = info ? `${info.service} ${info.kind} ${info.vip}:${info.port}/${protoName(info.proto)}` : `svc_id ${f.svcId}`;
      this.log.error({ service, op: f.op, err: f.error }, 'frontend not programmed; it keeps its previous state');
      failures.push({ service, op: f.op, error: f.error });
    }
    const att = await this.tc!.ensure({ verify: opts.full || opts.verify });
    this.lastSync = { ops: ops.length, applied: res.applied, failed: res.failures.size, attached: att.attached };
    if (att.attached.length) this.log.info({ interfaces: att.attached }, 'tc_lb attached');
    for (const e of att.errors) {
      this.log.error({ op: e.op, err: e }, 'tc attach failed');
      failures.push({ service: '(all)', op: e.op, error: e });
    }
    if (failures.length) throw new EbpfSyncError(failures);
  }

  private writeConfig(dp: Dataplane, table: ServiceTable): void {
    const nodeIP = table.nodes.get(table.nodeName)?.addresses.find((a) => isIPv4(a));
    const want = {
      hairpinAddr: this.opts.hairpinAddress ?? nodeIP ?? '0.0.0.0',
      snatAddr: this.opts.snatAddress ?? nodeIP ?? '0.0.0.0',
      snatPortMin: this.opts.snatPortRange?.min ?? SNAT_PORT_MIN,
      snatPortMax: this.opts.snatPortRange?.max ?? SNAT_PORT_MAX,
    };
    const cur = dp.maps.config.lookup({ id: 0 });
    if (!cur || (Object.keys(want) as (keyof typeof want)[]).some((k) => cur[k] !== want[k])) dp.maps.config.update({ id: 0 }, want);
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
      } while (this.rescan);
    } catch (e) {
      this.log.warn({ err: e }, 'interface scan failed');
    } finally {
      this.polling = false;
    }
  }

  private logSkipped(skipped: Array<{ service: string; reason: string }>): void {
    const key = JSON.stringify(skipped);
    if (key === this.lastSkipped) return;
    this.lastSkipped = key;
    for (const s of skipped) this.log.warn({ service: s.service, reason: s.reason }, 'service port skipped');
  }

  /** Reads the kernel maps back. Without a loaded data plane (e.g. `bpfproxy inspect` in
   * its own process) it only opens the pinned maps: inspecting never changes anything. */
  async inspect(): Promise<InspectRow[]> {
    if (this.dp) return inspectRows(await readState(this.dp.maps));
    const pinned = openPinnedMaps(this.pinRoot);
    if (!pinned) return [];
    try {
      return inspectRows(await readState(pinned.maps));
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
    this.current = emptyState();
    this.ids = idsFromState(this.current);
    this.log.info({ interfaces: detached, cgroupPrograms: cg, pinRoot: this.pinRoot }, 'eBPF data plane removed');
  }

  /** Closes our fds; pinned maps and attached programs keep working. */
  async close(): Promise<void> {
    clearInterval(this.poll);
    this.poll = undefined;
    this.gc?.stop();
    this.gc = undefined;
    this.links?.stop();
    this.links = undefined;
    this.dp?.close();
    this.dp = undefined;
    this.tc = undefined;
  }
}

/** Factory used by src/backends/factory.ts. */
export async function createEbpfBackend(cfg: {
  pinRoot?: string;
  cgroupPath?: string;
  hairpinAddress?: string;
  snatAddress?: string;
  snatPortRange?: PortRange;
  conntrackGcIntervalMs?: number;
  logger?: Logger;
  metrics?: Metrics;
}): Promise<Backend> {
  const { pinRoot, cgroupPath, hairpinAddress, snatAddress, snatPortRange, conntrackGcIntervalMs, logger, metrics } = cfg;
  return new EbpfBackend({ pinRoot, cgroupPath, hairpinAddress, snatAddress, snatPortRange, conntrackGcIntervalMs, logger, metrics });
}

export function inspectRows(state: MapState): InspectRow[] {
  const rows: InspectRow[] = [];
  for (const { key, value } of state.services.values()) {
    if (key.slot !== 0) continue;
    const meta = state.meta.get(value.svcId);
    const backends: string[] = [];
    for (let slot = 1; slot <= value.count; slot++) {
      const s = state.services.get(svcKeyId({ ...key, slot }));
      const b = s && state.backends.get(s.value.backendId);
      backends.push(b ? `${b.ip}:${b.port}` : `(missing backend ${s?.value.backendId ?? '?'})`);
    }
    rows.push({
      service: meta?.name ?? `svc_id ${value.svcId}`,
      protocol: protoName(key.proto),
      frontend: `${key.vip}:${key.port}`,
      kind: (meta && kindName(meta.kind)) ?? (value.flags & SVC_F_EXTERNAL ? 'ExternalIP' : 'ClusterIP'),
      backends: backends.sort(),
    });
  }
  return rows.sort((a, b) => a.service.localeCompare(b.service) || a.frontend.localeCompare(b.frontend) || a.protocol.localeCompare(b.protocol));
}
