// The proxier owns timing, change tracking and failure handling. Source events go to the
// change tracker (only the touched Service is rebuilt); a sync hands the backend the
// whole table plus the service-port changes not yet applied, under a bounded-frequency
// runner. What a backend could not program stays pending with its last-applied
// `previous`, is logged and counted, and is retried with backoff: the same for every
// backend (see backend.ts).
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { ServiceChangeTracker } from '../model/change-tracker.js';
import type { InputProblem, ServicePortChange, ServiceTable } from '../model/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SourceEvent } from '../sources/types.js';
import type { Backend } from './backend.js';
import { BoundedFrequencyRunner } from './bounded-frequency-runner.js';
import type { ServiceHealthServers } from './service-health.js';

export interface ProxierOptions {
  nodeName: string;
  minSyncPeriodMs: number;
  /** Periodic sync: at least this often, and the kernel is checked for drift (SyncOptions.verify). */
  syncPeriodMs: number;
  /** Full rewrite at least this often (kube-proxy: 1 h); default FULL_SYNC_PERIOD_MS. */
  fullSyncPeriodMs?: number;
  serviceProxyName?: string;
  /** healthCheckNodePort servers, updated after every sync (run.ts; tests leave it out). */
  serviceHealth?: ServiceHealthServers;
}

/** kube-proxy rewrites everything hourly; between, periodic syncs are partial. */
export const FULL_SYNC_PERIOD_MS = 3_600_000;

/** Some service ports were not programmed; they are retried (the runner backs off). */
export class PartialSyncError extends Error {
  override readonly name = 'PartialSyncError';
}

export class Proxier {
  private readonly runner: BoundedFrequencyRunner;
  private readonly tracker: ServiceChangeTracker;
  /** Changes not yet applied, by key: `previous` is what the kernel holds. */
  private readonly pending = new Map<string, ServicePortChange>();
  private nodesPending = false;
  private readonly changedSlices = new Set<string>();
  private readonly changedServices = new Set<string>();
  /** last-change-trigger-time of slice changes not yet collected / collected but not yet synced. */
  private readonly triggerTimes: number[] = [];
  private collectedTriggers: number[] = [];
  private synced = false;
  private lastFull = 0;
  private lastVerify = 0;
  /** Number of successful syncs (logged; tests wait on it). */
  syncCount = 0;
  lastSyncAt = 0;
  /** Oldest change not yet synced (health): startup counts as one, a sync clears it. */
  oldestPendingAt = Date.now();
  /** First event that arrived after the running sync collected its changes, 0 if none. */
  private pendingSinceCollect = 0;
  private collecting = false;

  constructor(
    private readonly backend: Backend,
    private readonly opts: ProxierOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.tracker = new ServiceChangeTracker({ nodeName: opts.nodeName, serviceProxyName: opts.serviceProxyName });
    this.runner = new BoundedFrequencyRunner(() => this.syncProxyRules(), {
      minIntervalMs: opts.minSyncPeriodMs,
      maxIntervalMs: opts.syncPeriodMs,
    });
  }

  start(): void {
    this.runner.start();
  }

  /** Every source event comes here: the tracker notes it, a sync is requested. */
  onEvent(ev: SourceEvent): void {
    this.tracker.onEvent(ev);
    this.countChange(ev);
    if (this.oldestPendingAt === 0) this.oldestPendingAt = Date.now();
    if (this.collecting && this.pendingSinceCollect === 0) this.pendingSinceCollect = Date.now();
    this.metrics.lastQueued.setToCurrentTime();
    this.runner.request();
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }

  /** The wanted table (DNS and inspect read it); `pendingKeys` are not applied yet. */
  get table(): ServiceTable {
    return this.tracker.table;
  }

  get pendingKeys(): string[] {
    return [...this.pending.keys()];
  }

  /** kube-proxy's change counters, and the slice's trigger time for network programming latency. */
  private countChange(ev: SourceEvent): void {
    if (ev.kind === 'EndpointSlice') {
      this.metrics.endpointChangesTotal.inc();
      this.changedSlices.add(ev.key);
      this.metrics.endpointChangesPending.set(this.changedSlices.size);
      const at = ev.type === 'DELETED' ? undefined : triggerTime(ev.object);
      if (at !== undefined) this.triggerTimes.push(at);
    } else if (ev.kind === 'Service') {
      this.metrics.serviceChangesTotal.inc();
      this.changedServices.add(ev.key);
      this.metrics.serviceChangesPending.set(this.changedServices.size);
    }
  }

  private collect(): void {
    this.changedSlices.clear();
    this.changedServices.clear();
    this.metrics.endpointChangesPending.set(0);
    this.metrics.serviceChangesPending.set(0);
    this.collectedTriggers.push(...this.triggerTimes.splice(0));
    const { changes, problems, nodesChanged } = this.tracker.takeChanges();
    this.report(problems);
    if (nodesChanged) this.nodesPending = true;
    for (const c of changes) {
      const p = this.pending.get(c.key);
      if (!p) {
        this.pending.set(c.key, c);
        continue;
      }
      // Still what the kernel holds → current: nothing left to do for this key.
      const merged: ServicePortChange = { key: c.key };
      if (p.previous) merged.previous = p.previous;
      if (c.current) merged.current = c.current;
      if (merged.previous === merged.current || isDeepStrictEqual(merged.previous, merged.current)) this.pending.delete(c.key);
      else this.pending.set(c.key, merged);
    }
  }

  private async syncProxyRules(): Promise<void> {
    const now = Date.now();
    this.collect();
    // A Node changed (its addresses: NodePort frontends; its zone label: topology hints):
    // any service port may render differently, so all are synced, as kube-proxy does.
    const full = !this.synced || now - this.lastFull >= (this.opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS) || this.nodesPending;
    // The runner fires at least every syncPeriod; such a run checks the kernel even if nothing changed.
    const verify = full || now - this.lastVerify >= this.opts.syncPeriodMs - this.opts.minSyncPeriodMs;
    this.collecting = true;
    this.pendingSinceCollect = 0;
    try {
      await this.syncCollected(now, full, verify);
    } finally {
      this.collecting = false;
    }
  }

  private async syncCollected(now: number, full: boolean, verify: boolean): Promise<void> {
    if (!full && !verify && this.pending.size === 0) {
      this.oldestPendingAt = this.pendingSinceCollect; // the events changed nothing to program
      this.observeProgrammed(); // nothing to program is programmed now
      return;
    }
    const changes = [...this.pending.values()];
    const table = this.tracker.table;
    const end = (full ? this.metrics.syncFullDuration : this.metrics.syncPartialDuration).startTimer();
    const endAll = this.metrics.syncDuration.startTimer();
    const backend = this.backend.name;
    let failed: Array<[string, string]>;
    try {
      ({ failed } = await this.backend.sync({ table, changes }, { full, verify }));
    } catch (e) {
      this.metrics.syncFailures.inc({ backend });
      this.log.error({ err: e, full, pending: changes.length }, 'sync failed; previous state kept, will retry');
      throw e;
    }
    const seconds = endAll();
    end();
    const failedKeys = new Set(failed.map(([k]) => k));
    for (const c of changes) if (!failedKeys.has(c.key)) this.pending.delete(c.key);
    // A failed service port the sync was not asked about (a full sync's restore failed) is
    // retried too: as changed, with no better knowledge of what the kernel holds.
    for (const key of failedKeys) {
      const e = table.services.get(key);
      if (!this.pending.has(key) && e) this.pending.set(key, { key, previous: e, current: e });
    }
    this.nodesPending = false;
    this.metrics.failedServicePorts.set({ backend }, failed.length);
    this.metrics.serviceCount.set(table.services.size);
    this.observeProgrammed();
    this.opts.serviceHealth?.update(table);
    const noLocal = noLocalEndpoints(table);
    this.metrics.noLocalEndpoints.set({ traffic_policy: 'internal' }, noLocal.internal);
    this.metrics.noLocalEndpoints.set({ traffic_policy: 'external' }, noLocal.external);
    // A sync that leaves some service ports failed still counts for timing and health: the
    // rest is programmed, and the failed ones are retried on their own (partially).
    this.synced = true;
    if (full) this.lastFull = now;
    if (verify) this.lastVerify = now;
    this.syncCount++;
    this.lastSyncAt = Date.now();
    // What was collected is synced; what arrived since waits for the next sync.
    this.oldestPendingAt = this.pendingSinceCollect;
    this.metrics.lastSync.setToCurrentTime();
    this.log.info({ sync: this.syncCount, full, verify, services: table.services.size, ...summarize(changes), failed: failed.length, seconds }, 'synced');
    if (failed.length > 0) {
      this.metrics.syncFailures.inc({ backend });
      for (const [service, reason] of failed) this.log.error({ service }, `service port not programmed, it keeps its previous state: ${reason}`);
      // Rejecting makes the runner retry with backoff; only the failed changes are pending.
      throw new PartialSyncError(`${failed.length} service port(s) not programmed`);
    }
  }

  /** kube-proxy's network programming latency: each collected trigger time → now. */
  private observeProgrammed(): void {
    const now = Date.now();
    for (const at of this.collectedTriggers.splice(0)) if (now >= at) this.metrics.networkProgrammingDuration.observe((now - at) / 1000);
  }

  private report(problems: InputProblem[]): void {
    for (const p of problems) {
      this.metrics.inputProblems.inc({ kind: p.object.split(' ')[0] || 'unknown' });
      this.log.warn({ file: p.source, object: p.object, field: p.field }, `${p.kept ? 'ignored invalid field' : 'skipped invalid object'}: ${p.message}`);
    }
  }
}

/** How many changes add, update and remove a service port (the "synced" log line). */
function summarize(changes: readonly ServicePortChange[]): { added: number; updated: number; removed: number } {
  let added = 0;
  let updated = 0;
  let removed = 0;
  for (const c of changes) {
    if (!c.previous) added++;
    else if (!c.current) removed++;
    else updated++;
  }
  return { added, updated, removed };
}

export const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

/** The EndpointSlice controller's trigger time (RFC 3339), in ms; undefined when absent or bad. */
export function triggerTime(obj: { metadata?: { annotations?: Record<string, string> } }): number | undefined {
  const v = obj.metadata?.annotations?.[TRIGGER_TIME_ANNOTATION];
  if (v === undefined) return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * kube-proxy's no_local_endpoints_total: Services (counted once, not per port) with a
 * Local policy and no local ready endpoint. external counts only Services that have
 * external frontends (NodePort, externalIPs, LoadBalancer).
 */
export function noLocalEndpoints(table: ServiceTable): { internal: number; external: number } {
  const internal = new Set<string>();
  const external = new Set<string>();
  for (const e of table.services.values()) {
    const hasLocal = e.endpoints.some((ep) => ep.ready && ep.nodeName === table.nodeName);
    if (hasLocal || e.endpoints.length === 0) continue; // no endpoints at all is not "no local endpoints"
    const svc = `${e.name.namespace}/${e.name.name}`;
    if (e.internalTrafficPolicy === 'Local') internal.add(svc);
    const externallyReachable = e.nodePort !== 0 || e.externalIPs.length > 0 || e.loadBalancerIPs.length > 0;
    if (e.externalTrafficPolicy === 'Local' && externallyReachable) external.add(svc);
  }
  return { internal: internal.size, external: external.size };
}
