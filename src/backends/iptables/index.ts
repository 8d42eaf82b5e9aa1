// --backend=iptables: kube-proxy's iptables mode. The first sync (and every one the
// proxier marks full, or after a failed restore, or when the canary chain vanished)
// rewrites everything; other syncs rewrite the shared chains plus only the changed
// services' chains. One iptables-restore --noflush per family: atomic per table, so on
// failure the previous rules stay in force.
import type { Logger } from 'pino';
import { ipFamily } from '../../model/validate.js';
import type { IPFamily, ServicePortChange, ServiceTable } from '../../model/types.js';
import type { Backend, InspectRow, SyncOptions, SyncResult, TableUpdate } from '../../proxier/backend.js';
import type { Metrics } from '../../metrics/metrics.js';
import { cleanStaleUdpFlows, udpCleanupAfter } from '../netfilter/conntrack.js';
import { IptablesCli, type IptablesMode, IptablesRestoreError } from '../netfilter/iptables-cli.js';
import { inspectFromSave } from './inspect.js';
import { JUMP_RULES } from './jump-rules.js';
import { nodePortAddressesCoverLoopback, nodePortCIDRsOf, nodeViewOf } from '../../model/frontends.js';
import { CANARY_CHAIN, FILTER_CHAINS, NAT_CHAINS, PER_SERVICE_CHAIN } from './render.js';
import type { IptablesRenderOptions } from './render-service.js';
import { FamilySyncState, type SyncPlan } from './sync-plan.js';
import { parseSave } from '../netfilter/save.js';
import { renderChainRemoval } from '../netfilter/chain-removal.js';
import { run } from '../../util/exec.js';

export interface IptablesBackendOptions {
  families?: IPFamily[];
  /** --cluster-cidr, one per family at most (e.g. 198.18.0.0/16,2001:db8:18::/48). */
  clusterCIDRs?: string[];
  masqueradeAll?: boolean;
  /** --nodeport-addresses: CIDRs of node addresses NodePorts answer on (default: all local addresses). */
  nodePortAddresses?: string[];
  /** --iptables-mode: iptables-nft or iptables-legacy binaries (default: the system's `iptables`). */
  mode?: IptablesMode;
  /** --iptables-localhost-nodeports (default true, as kube-proxy). */
  localhostNodePorts?: boolean;
  /** Network namespace (/run/netns/NAME) to program; default the one we run in. */
  netns?: string;
  logger?: Logger;
  metrics?: Metrics;
}

/** What the last sync did in one family (logged; read by the bench). */
export interface SyncStats {
  family: IPFamily;
  full: boolean;
  reason?: string;
  rulesWritten: number;
  chainsWritten: number;
  servicesRewritten: number;
  staleChains: number;
  conntrackFilters: number;
}

export class IptablesBackend implements Backend {
  readonly name = 'iptables' as const;
  private readonly clis: IptablesCli[];
  private readonly states = new Map<IPFamily, FamilySyncState>();
  private readonly warnedSctp = new Set<string>();
  lastSync: SyncStats[] = [];
  /** What the last sync passed to iptables-restore, per family (debug; the render test). */
  readonly lastRestore = new Map<IPFamily, string>();

  constructor(private readonly opts: IptablesBackendOptions = {}) {
    this.clis = (opts.families ?? [4, 6]).map((f) => new IptablesCli(f, opts.mode, opts.netns));
    for (const cli of this.clis) this.states.set(cli.family, new FamilySyncState(this.renderOpts(cli.family)));
  }

  /**
   * What a first sync writes for `table` (render subcommand): the same plan a sync makes,
   * against empty kernel state (no chains yet). No kernel access, nothing read from the host.
   */
  render(table: ServiceTable): string {
    return this.clis
      .map((cli) => {
        const plan = new FamilySyncState(this.renderOpts(cli.family)).plan({
          table, full: true, fullReason: 'render', existingChains: [], nodePortIPs: this.nodePortIPs(table, cli.family),
        });
        return `# IPv${cli.family}: ${cli.family === 4 ? 'iptables' : 'ip6tables'}-restore --noflush\n${plan.text}`;
      })
      .join('\n');
  }

  async sync(update: TableUpdate, opts: SyncOptions): Promise<SyncResult> {
    const { table, changes } = update;
    const touched = changes ? changes.flatMap((c) => (c.current ? [c.current] : [])) : table.services.values();
    for (const svc of touched) {
      if (svc.protocol !== 'SCTP' || this.warnedSctp.has(svc.key)) continue;
      this.warnedSctp.add(svc.key);
      this.opts.logger?.warn({ service: svc.key }, 'SCTP service skipped: this backend does not program SCTP');
    }
    const stats: SyncStats[] = [];
    const failed = new Map<string, string>();
    let anyFull = false;
    for (const cli of this.clis) {
      const r = await this.syncFamily(cli, table, changes, opts);
      if ('error' in r) {
        // One restore per family is atomic: everything it would have changed failed with it.
        const keys = r.full || !changes ? table.services.keys() : changes.map((c) => c.key);
        for (const k of keys) failed.set(k, `IPv${cli.family} iptables-restore failed: ${r.error}`);
        continue;
      }
      const plan = r.plan;
      anyFull ||= plan.full;
      stats.push({
        family: cli.family,
        full: plan.full,
        reason: plan.reason,
        rulesWritten: plan.rulesWritten,
        chainsWritten: plan.chainsWritten,
        servicesRewritten: plan.rewritten.length,
        staleChains: plan.stale.length,
        conntrackFilters: 0,
      });
    }
    // After the rules are in: flush UDP flows whose NAT binding no longer matches them.
    const udp = udpCleanupAfter(table, changes, anyFull);
    if (udp) {
      for (const st of stats) {
        try {
          st.conntrackFilters = await cleanStaleUdpFlows(table, udp.removed, st.family, this.opts.netns);
        } catch (e) {
          this.opts.logger?.warn({ err: e, family: st.family }, 'UDP conntrack cleanup failed; stale flows expire on their own');
        }
      }
    }
    this.lastSync = stats;
    for (const st of stats) this.opts.logger?.debug(st, 'iptables sync');
    return { failed: [...failed] };
  }

  private async syncFamily(
    cli: IptablesCli, table: ServiceTable, changes: readonly ServicePortChange[] | undefined, opts: SyncOptions,
  ): Promise<{ plan: SyncPlan } | { error: string; full: boolean }> {
    const state = this.states.get(cli.family)!;
    let reason = opts.full ? 'full sync requested' : state.fullReason(table);
    if (reason === undefined && !(await this.canaryPresent(cli))) reason = `${CANARY_CHAIN} is gone: rules were flushed behind our back`;
    if (reason !== undefined && !opts.full) this.opts.logger?.info({ family: cli.family, reason }, 'full iptables sync');
    // A full sync also deletes chains left by earlier runs, so it reads what exists.
    const existing = reason !== undefined ? parseSave(await cli.save('nat')).chains.filter((c) => PER_SERVICE_CHAIN.test(c)) : undefined;
    const changed = changes && new Set(changes.map((c) => c.key));
    const plan = state.plan({ table, changed, full: reason !== undefined, fullReason: reason, existingChains: existing, nodePortIPs: this.nodePortIPs(table, cli.family) });
    this.lastRestore.set(cli.family, plan.text);
    try {
      await cli.restore(plan.text);
    } catch (e) {
      // The kernel may now differ from the cache (or the input was bad): rebuild from scratch next time.
      state.invalidate();
      this.opts.metrics?.iptablesRestoreFailures.inc();
      if (!plan.full) this.opts.metrics?.iptablesPartialRestoreFailures.inc();
      if (e instanceof IptablesRestoreError) this.opts.logger?.error({ family: cli.family, line: e.line, rule: e.rule, full: plan.full }, e.message);
      return { error: e instanceof Error ? e.message : String(e), full: plan.full };
    }
    state.commit(plan);
    this.opts.metrics?.iptablesRulesLastSync.set({ table: 'filter', family: `IPv${cli.family}` }, plan.filterRules);
    this.opts.metrics?.iptablesRulesLastSync.set({ table: 'nat', family: `IPv${cli.family}` }, plan.natRules);
    // Jump rules live in built-in chains; kube-proxy ensures them on full syncs only.
    if (plan.full) for (const j of JUMP_RULES) await cli.ensureJump(j);
    // Localhost NodePorts: the kernel must route 127.0.0.1 (guarded by KUBE-FIREWALL, written above).
    if (plan.full && cli.family === 4 && this.localhostNodePorts()) await run('sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1'], { netns: this.opts.netns });
    return { plan };
  }

  private async canaryPresent(cli: IptablesCli): Promise<boolean> {
    const present = await Promise.all((['mangle', 'nat', 'filter'] as const).map((t) => cli.chainExists(t, CANARY_CHAIN)));
    return present.every(Boolean);
  }

  async cleanup(): Promise<void> {
    for (const cli of this.clis) {
      for (const j of JUMP_RULES) await cli.deleteJump(j);
      const present: Record<'filter' | 'nat' | 'mangle', string[]> = { filter: [], nat: [], mangle: [] };
      for (const [table, base] of [['filter', FILTER_CHAINS], ['nat', NAT_CHAINS], ['mangle', [] as string[]]] as const) {
        const owned = (c: string) => base.includes(c) || c === CANARY_CHAIN || PER_SERVICE_CHAIN.test(c);
        present[table] = parseSave(await cli.save(table)).chains.filter(owned);
      }
      const text = renderChainRemoval(present);
      if (text) await cli.restore(text);
      this.states.get(cli.family)!.invalidate();
    }
  }

  async inspect(): Promise<InspectRow[]> {
    const rows: InspectRow[] = [];
    for (const cli of this.clis) for (const r of inspectFromSave(await cli.save('nat'), await cli.save('filter'))) rows.push(r);
    return rows;
  }

  /** --nodeport-addresses of `family` ∩ the Node's addresses (NodeView); undefined = every local address (addrtype LOCAL). */
  private nodePortIPs(table: ServiceTable, family: IPFamily): string[] | undefined {
    const entries = this.opts.nodePortAddresses ?? [];
    if (nodePortCIDRsOf(entries, table.nodes.get(table.nodeName), family) === undefined) return undefined;
    return nodeViewOf(table, entries).nodePortAddresses.filter((a) => ipFamily(a) === family).sort();
  }

  /**
   * --iptables-localhost-nodeports in effect: when --nodeport-addresses covers 127.0.0.1 (no
   * IPv4 entry, `all`, or a CIDR holding it), as kube-proxy decides it; IPv4 only.
   */
  private localhostNodePorts(): boolean {
    if (this.opts.localhostNodePorts === false) return false;
    return nodePortAddressesCoverLoopback(this.opts.nodePortAddresses ?? []);
  }

  private renderOpts(family: IPFamily): IptablesRenderOptions {
    return {
      family,
      localhostNodePorts: family === 4 && this.localhostNodePorts(),
      clusterCIDR: this.opts.clusterCIDRs?.find((c) => ipFamily(c.split('/')[0]!) === family),
      masqueradeAll: this.opts.masqueradeAll,
    };
  }
}
