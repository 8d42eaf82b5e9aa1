// Full vs partial sync for one family, without touching the kernel: keeps the rules of
// every service as last applied, and builds the restore input that rewrites the shared
// chains plus only the changed services' own chains (kube-proxy's partial sync). The
// backend commits a plan after iptables-restore succeeded, or invalidates the cache when
// it failed, so that the next sync is a full one.
import type { ServiceTable } from '../../model/types.js';
import { thisNode } from '../../model/frontends.js';
import { type Assembled, LARGE_CLUSTER_ENDPOINTS, PER_SERVICE_CHAIN, assemble, countEndpoints } from './render.js';
import { type IptablesRenderOptions, type ServiceRules, renderServiceRules } from './render-service.js';

export interface SyncPlan extends Assembled {
  full: boolean;
  /** Service keys whose own chains were rewritten (all on a full sync). */
  rewritten: string[];
  /** Chains deleted by this restore. */
  stale: string[];
  /** Chains (re)declared by this restore. */
  chainsWritten: number;
  /** Why a full sync was chosen (logged), when it was. */
  reason?: string;
  /** The cache to keep once this plan is applied. */
  readonly next: Map<string, ServiceRules | null>;
  readonly largeCluster: boolean;
}

export interface PlanInput {
  table: ServiceTable;
  /** Keys of the service ports changed since the last commit; undefined: compare them all. */
  changed?: ReadonlySet<string>;
  /** The proxier asked for a full sync, or the backend saw a reason (canary gone). */
  full: boolean;
  fullReason?: string;
  /** Per-service chains present in the kernel (read on full syncs only, for stale cleanup). */
  existingChains?: readonly string[];
  /** --nodeport-addresses matched against the node's current addresses (they may change). */
  nodePortIPs?: string[];
}

export class FamilySyncState {
  /** key → rules last applied (null: the service renders nothing in this family). */
  private cache = new Map<string, ServiceRules | null>();
  private valid = false;
  private largeCluster = false;

  constructor(private readonly opts: IptablesRenderOptions) {}

  /** Forget what is applied (failed restore, or rules deleted behind our back): next plan is full. */
  invalidate(): void {
    this.valid = false;
  }

  commit(plan: SyncPlan): void {
    this.cache = plan.next;
    this.largeCluster = plan.largeCluster;
    this.valid = true;
  }

  /** Why the next sync must be full whatever the proxier asks (undefined: a partial one will do). */
  fullReason(table: ServiceTable): string | undefined {
    if (!this.valid) return 'no trusted state (first sync or a failed restore)';
    if (this.isLarge(table) !== this.largeCluster) return 'large cluster mode changed';
    return undefined;
  }

  plan(input: PlanInput): SyncPlan {
    const large = this.isLarge(input.table);
    const opts = { ...this.opts, largeCluster: large, ...(input.nodePortIPs ? { nodePortIPs: input.nodePortIPs } : {}) };
    const reason = input.full ? (input.fullReason ?? 'requested') : this.fullReason(input.table);
    return reason !== undefined ? this.planFull(input, opts, reason, large) : this.planPartial(input, opts, large);
  }

  private isLarge(table: ServiceTable): boolean {
    return countEndpoints(table, this.opts.family) > LARGE_CLUSTER_ENDPOINTS;
  }

  private planFull(input: PlanInput, opts: IptablesRenderOptions, reason: string, large: boolean): SyncPlan {
    const next = new Map<string, ServiceRules | null>();
    const node = thisNode(input.table);
    for (const key of sortedKeys(input.table)) next.set(key, renderServiceRules(input.table.services.get(key)!, node, opts) ?? null);
    const all = present(next);
    const keep = new Set<string>();
    for (const r of all) for (const c of r.natChains.keys()) keep.add(c);
    const stale = (input.existingChains ?? []).filter((c) => PER_SERVICE_CHAIN.test(c) && !keep.has(c));
    const a = assemble({ all, rewrite: all, stale, canary: true }, opts);
    return { ...a, full: true, reason, rewritten: [...next.keys()], stale, chainsWritten: keep.size, next, largeCluster: large };
  }

  private planPartial(input: PlanInput, opts: IptablesRenderOptions, large: boolean): SyncPlan {
    const { table } = input;
    const changed = new Set(input.changed ?? table.services.keys());
    // Guard against a diff that does not match what we applied (e.g. a sync we never saw).
    for (const key of table.services.keys()) if (!this.cache.has(key)) changed.add(key);
    for (const key of this.cache.keys()) if (!table.services.has(key)) changed.add(key);

    const next = new Map<string, ServiceRules | null>();
    const node = thisNode(table);
    const rewrite: ServiceRules[] = [];
    const stale: string[] = [];
    for (const key of sortedKeys(table)) {
      if (!changed.has(key)) {
        next.set(key, this.cache.get(key) ?? null);
        continue;
      }
      const r = renderServiceRules(table.services.get(key)!, node, opts) ?? null;
      next.set(key, r);
      if (r) rewrite.push(r);
    }
    for (const key of changed) {
      const old = this.cache.get(key);
      if (!old) continue;
      const now = next.get(key);
      for (const c of old.natChains.keys()) if (!now?.natChains.has(c)) stale.push(c);
    }
    const a = assemble({ all: present(next), rewrite, stale, canary: false }, opts);
    const chainsWritten = rewrite.reduce((n, r) => n + r.natChains.size, 0);
    return { ...a, full: false, rewritten: rewrite.map((r) => r.key), stale, chainsWritten, next, largeCluster: large };
  }
}

function sortedKeys(table: ServiceTable): string[] {
  return [...table.services.keys()].sort();
}

function present(m: Map<string, ServiceRules | null>): ServiceRules[] {
  return [...m.values()].filter((r): r is ServiceRules => r !== null);
}
