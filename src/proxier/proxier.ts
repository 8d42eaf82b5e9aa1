// The proxier owns timing and change tracking: it rebuilds the ServiceTable from the
// object store, diffs it against the last *applied* table, and hands both to the backend
// under a bounded-frequency runner. A failed sync leaves `applied` unchanged, so the next
// attempt re-sends the same diff (nothing is lost) and the backend keeps its old state.
import type { Logger } from 'pino';
import { type LastGood, buildServiceTable } from '../model/build-table.js';
import { diffTables, isEmptyDiff } from '../model/diff.js';
import type { InputProblem, ServiceTable } from '../model/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ObjectStore } from '../sources/store.js';
import type { Backend } from './backend.js';
import { BoundedFrequencyRunner } from './bounded-frequency-runner.js';

export interface ProxierOptions {
  nodeName: string;
  minSyncPeriodMs: number;
  /** Periodic sync: at least this often, and the kernel is checked for drift (SyncOptions.verify). */
  syncPeriodMs: number;
  /** Full rewrite at least this often (kube-proxy: 1 h); default FULL_SYNC_PERIOD_MS. */
  fullSyncPeriodMs?: number;
  serviceProxyName?: string;
}

/** kube-proxy rewrites everything hourly; between, periodic syncs are partial. */
export const FULL_SYNC_PERIOD_MS = 3_600_000;

export class Proxier {
  private readonly runner: BoundedFrequencyRunner;
  private applied: ServiceTable | undefined;
  private lastGood: LastGood | undefined;
  private lastFull = 0;
  private lastVerify = 0;
  private syncedGeneration = -1;
  private reportedProblems = new Set<string>();
  /** Number of successful syncs (logged; tests wait on it). */
  syncCount = 0;
  lastSyncAt = 0;

  constructor(
    private readonly backend: Backend,
    private readonly store: ObjectStore,
    private readonly opts: ProxierOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.runner = new BoundedFrequencyRunner(() => this.syncProxyRules(), {
      minIntervalMs: opts.minSyncPeriodMs,
      maxIntervalMs: opts.syncPeriodMs,
    });
  }

  start(): void {
    this.runner.start();
  }

  /** Called on every source event. */
  onChange(): void {
    this.metrics.lastQueued.setToCurrentTime();
    this.runner.request();
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }

  /** The table as last applied to the kernel (DNS and inspect read it). */
  get table(): ServiceTable | undefined {
    return this.applied;
  }

  private async syncProxyRules(): Promise<void> {
    const now = Date.now();
    const full = this.applied === undefined || now - this.lastFull >= (this.opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS);
    // The runner fires at least every syncPeriod; such a run checks the kernel even if nothing changed.
    const verify = full || now - this.lastVerify >= this.opts.syncPeriodMs - this.opts.minSyncPeriodMs;
    const generation = this.store.generation;
    const { table, problems, lastGood } = buildServiceTable(this.store.snapshot(), {
      nodeName: this.opts.nodeName,
      serviceProxyName: this.opts.serviceProxyName,
      lastGood: this.lastGood,
    });
    this.report(problems);
    const diff = diffTables(this.applied, table);
    if (!full && !verify && isEmptyDiff(diff) && generation === this.syncedGeneration) return;
    const end = (full ? this.metrics.syncFullDuration : this.metrics.syncPartialDuration).startTimer();
    const endAll = this.metrics.syncDuration.startTimer();
    try {
      await this.backend.sync(table, diff, { full, verify });
    } catch (e) {
      this.metrics.syncFailures.inc({ backend: this.backend.name });
      this.log.error({ err: e, full }, 'sync failed; previous state kept, will retry');
      throw e;
    }
    const seconds = endAll();
    end();
    this.applied = table;
    this.lastGood = lastGood;
    this.syncedGeneration = generation;
    if (full) this.lastFull = now;
    if (verify) this.lastVerify = now;
    this.syncCount++;
    this.lastSyncAt = Date.now();
    this.metrics.lastSync.setToCurrentTime();
    this.metrics.serviceCount.set(table.services.size);
    this.log.info(
      { sync: this.syncCount, full, verify, services: table.services.size, added: diff.added.length, updated: diff.updated.length, removed: diff.removed.length, seconds },
      'synced',
    );
  }

  /** Logs each distinct problem once (the table is rebuilt often; the log should not repeat). */
  private report(problems: InputProblem[]): void {
    const now = new Set<string>();
    for (const p of problems) {
      const id = `${p.source}|${p.object}|${p.field}|${p.message}`;
      now.add(id);
      if (this.reportedProblems.has(id)) continue;
      this.metrics.inputProblems.inc({ kind: p.object.split(' ')[0] || 'unknown' });
      this.log.warn({ file: p.source, object: p.object, field: p.field }, `skipped invalid object: ${p.message}`);
    }
    this.reportedProblems = now;
  }
}
