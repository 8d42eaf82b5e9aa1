// --backend=ipvs: kube-proxy's IPVS mode. VIPs live on the dummy device kube-ipvs0, each
// frontend (ClusterIP, NodePort on every node address, externalIP, LoadBalancer IP) is an
// IPVS virtual server with masqueraded real servers, and a few fixed iptables rules match
// ipsets for masquerade/hairpin/reject. Each sync reads the kernel's state and applies only
// the difference (plan.ts): nothing is flushed and rebuilt, so traffic never sees a gap.
import type { Logger } from 'pino';
import type { Metrics } from '../../metrics/metrics.js';
import { nodeViewOf } from '../../model/frontends.js';
import type { IPFamily, ServicePortEntry, ServiceTable } from '../../model/types.js';
import { cleanStaleUdpFlows, udpCleanupAfter } from '../netfilter/conntrack.js';
import type { Backend, InspectRow, SyncOptions, SyncResult, TableUpdate } from '../../proxier/backend.js';
import { toolRuns } from '../../util/exec.js';
import { type IptablesMode, IptablesCli } from '../netfilter/iptables-cli.js';
import { type DesiredService, desiredState } from './desired.js';
import { inspectRows } from './inspect.js';
import { LEGACY_SET_NAMES, allSetNames, entryKey } from './ipsets.js';
import { renderChainRemoval } from '../netfilter/chain-removal.js';
import { parseSave } from '../netfilter/save.js';
import { FILTER_CHAINS, IPVS_JUMP_RULES, NAT_CHAINS, ourRules, renderIptables, tablesOf, withMissingJumps } from './iptables-rules.js';
import { deleteServiceLine } from './ipvsadm.js';
import { diffVirtualServer } from './ipvs-diff.js';
import * as k from './kernel.js';
import { type KernelState, type ServiceStep, type SyncPlan, owned, planSync } from './plan.js';
import { renderPlanText } from './render-text.js';
import { type VirtualServer, familyOf, vsKey } from './types.js';

/** Schedulers the kernel ships (ip_vs_<name>); anything else is refused at start. */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'sh', 'dh', 'sed', 'nq', 'mh', 'fo', 'ovf'];

export interface IpvsBackendOptions {
  scheduler?: string;
  /** --cluster-cidr, one per family at most. */
  clusterCIDRs?: string[];
  masqueradeAll?: boolean;
  /** --iptables-mode: the iptables flavour for the masquerade and filter rules (default the system's). */
  iptablesMode?: IptablesMode;
  /** --nodeport-addresses: NodePorts only on the Node's addresses inside these CIDRs (empty: all of them). */
  nodePortAddresses?: string[];
  families?: IPFamily[];
  logger?: Logger;
  metrics?: Metrics;
}

export class IpvsBackend implements Backend {
  readonly name = 'ipvs' as const;
  readonly scheduler: string;
  /** Services that could not be programmed in the last sync → the error (also logged). */
  readonly failures = new Map<string, string>();
  private readonly lastApplied = new Map<string, DesiredService>();
  private readonly clis: IptablesCli[];
  private readonly appliedRules = new Map<IPFamily, { text: string; saved: string }>();
  private schedulerReady = false;

  constructor(private readonly opts: IpvsBackendOptions = {}) {
    this.scheduler = opts.scheduler ?? 'rr';
    if (!SCHEDULERS.includes(this.scheduler)) throw new Error(`--ipvs-scheduler: want one of ${SCHEDULERS.join(', ')}, got ${JSON.stringify(this.scheduler)}`);
    this.clis = (opts.families ?? [4, 6]).map((f) => new IptablesCli(f, opts.iptablesMode));
  }

  /**
   * What a first sync runs on an empty node (`bpfproxy render`), tool by tool: the plan
   * against an empty kernel state, as the same ToolWrites sync runs. No kernel access.
   */
  render(table: ServiceTable): string {
    const desired = desiredState(table, { scheduler: this.scheduler, view: nodeViewOf(table, this.opts.nodePortAddresses) });
    const empty: KernelState = { virtualServers: new Map(), bound: new Set(), otherAddresses: new Map(), sets: new Map() };
    const plan = planSync({ desired, current: empty, lastApplied: new Map() });
    const none = { filter: '', nat: '' };
    const writes = [
      k.dummyWrite(false),
      k.setsWrite({ create: this.setNames() }),
      k.setsWrite({ add: plan.addEntries }),
      k.addressesWrite('add', stepAddresses(plan.steps)),
      k.ipvsWrite(plan.steps.flatMap((s) => s.ipvs)),
      k.ipvsWrite(plan.deleteVirtualServers),
      k.addressesWrite('del', plan.deleteAddresses),
      k.setsWrite({ del: plan.deleteEntries }),
      ...this.ruleClis(desired).map((c) => c.restoreWrite(withMissingJumps(renderIptables(this.ruleOpts(c.family)), none))),
    ];
    return renderPlanText(writes.filter((w) => w !== undefined), plan.failed);
  }

  /**
   * The proxier's changes are not needed: every sync plans the whole table against the
   * kernel's current state (three reads), which also repairs what was changed behind our
   * back. Service ports that could not be programmed are returned (see backend.ts).
   */
  async sync({ table, changes }: TableUpdate, opts: SyncOptions): Promise<SyncResult> {
    const t0 = performance.now();
    const tools0 = toolRuns();
    const ms: Record<string, number> = {};
    const lap = (name: string) => (ms[name] = Math.round(performance.now() - t0));
    await this.ensureModule();
    const schedulerError = await this.checkScheduler(opts.full);
    const state = await k.readKernelState();
    lap('read');
    await this.ensureBase(state);
    const desired = desiredState(table, { scheduler: this.scheduler, view: nodeViewOf(table, this.opts.nodePortAddresses) });
    const plan = planSync({ desired, current: state, lastApplied: this.lastApplied, schedulerError });
    lap('plan');

    // Additions first (a frontend is in the sets before it answers), removals last.
    await k.restoreSets({ add: plan.addEntries });
    const failedSteps = await this.applySteps(plan.steps, state);
    lap('services');
    await this.deleteVirtualServers(plan.deleteVirtualServers);
    throwIfAny(await k.changeAddresses('del', plan.deleteAddresses));
    await k.restoreSets({ del: plan.deleteEntries });
    await this.undoFailedSteps(failedSteps, plan, desired);
    lap('removals');

    this.recordOutcome(table, desired, plan, failedSteps);
    for (const cli of this.ruleClis(desired)) await this.syncRules(cli, opts.full);
    lap('iptables');
    await this.cleanUdpFlows(table, changes, opts.full);
    lap('conntrack');
    this.opts.logger?.debug({ ms, tools: toolRuns() - tools0, steps: plan.steps.length, removed: plan.deleteVirtualServers.length, failed: this.failures.size }, 'ipvs sync');
    return { failed: [...this.failures] };
  }

  /**
   * UDP flows whose NAT binding points at an endpoint that is gone (kube-proxy's conntrack
   * cleanup, shared with the iptables backend): only when a UDP service port changed, or on
   * a full sync, and only for families that have UDP services.
   */
  private async cleanUdpFlows(table: ServiceTable, changes: TableUpdate['changes'], full: boolean): Promise<void> {
    const udp = udpCleanupAfter(table, changes, full);
    if (!udp) return;
    for (const family of this.clis.map((c) => c.family)) {
      // A family without UDP service ports has no flows to look for (each tool start counts under qemu).
      const has = (s: ServicePortEntry) => s.protocol === 'UDP' && s.clusterIPs.some((ip) => familyOf(ip) === family);
      if (![...table.services.values(), ...udp.removed].some(has)) continue;
      try {
        await cleanStaleUdpFlows(table, udp.removed, family);
      } catch (e) {
        this.opts.logger?.warn({ err: e, family }, 'UDP conntrack cleanup failed; stale flows expire on their own');
      }
    }
  }

  async cleanup(): Promise<void> {
    const addresses = await k.readAddresses();
    const sets = await k.readSets();
    const vss = await k.readVirtualServers().catch(() => new Map<string, VirtualServer>());
    const state = { bound: addresses.bound, otherAddresses: addresses.others, sets };
    await this.deleteVirtualServers([...vss.values()].filter((vs) => owned(vs, state)).map((vs) => deleteServiceLine(vs)));
    if (addresses.dummyExists) await k.deleteDummy();
    for (const cli of this.clis) {
      for (const j of IPVS_JUMP_RULES) await cli.deleteJump(j).catch(() => undefined);
      const filter = await chainsIn(cli, 'filter', FILTER_CHAINS);
      const nat = await chainsIn(cli, 'nat', NAT_CHAINS);
      const text = renderChainRemoval({ filter, nat });
      if (text) await cli.restore(text);
    }
    // Sets last: iptables rules referencing them are gone now.
    const ours = new Set([...allSetNames(), ...LEGACY_SET_NAMES]);
    await k.destroySets([...sets.keys()].filter((s) => ours.has(s)));
    this.lastApplied.clear();
    this.appliedRules.clear();
  }

  async inspect(): Promise<InspectRow[]> {
    const s = await k.readKernelState();
    return inspectRows(s.virtualServers, s.sets, s.bound, s.otherAddresses);
  }

  /** ip_vs loaded and the sysctls masquerade needs (cheap when done: no process spawned). */
  private async ensureModule(): Promise<void> {
    if (!(await k.ipvsLoaded())) await k.modprobe('ip_vs');
    await k.setSysctls();
  }

  /** kube-ipvs0 up, and every set there (the iptables rules reference all of them). */
  private async ensureBase(state: Awaited<ReturnType<typeof k.readKernelState>>): Promise<void> {
    if (!state.addresses.dummyExists || !state.addresses.dummyUp) await k.ensureDummy(state.addresses.dummyExists);
    const missing = this.setNames().filter((s) => !state.sets.has(s));
    if (missing.length > 0) {
      await k.restoreSets({ create: missing });
      for (const s of missing) state.sets.set(s, new Map());
    }
  }

  /** Our sets of the families this backend serves (the iptables rules reference all of them). */
  private setNames(): string[] {
    const families = new Set(this.clis.map((c) => c.family));
    return allSetNames().filter((s) => families.has(s.startsWith('KUBE-6-') ? 6 : 4));
  }

  /**
   * The families whose rules a sync writes: IPv6 only once an IPv6 frontend exists (saves
   * iptables runs on IPv4-only nodes); once written they are kept up to date.
   */
  private ruleClis(desired: DesiredService[]): IptablesCli[] {
    const v6 = desired.some((d) => d.virtualServers.some((v) => familyOf(v.ip) === 6));
    return this.clis.filter((c) => c.family === 4 || v6 || this.appliedRules.has(c.family));
  }

  /** Loads ip_vs_<scheduler>; the error names the module (services needing it then fail). */
  private async checkScheduler(full: boolean): Promise<string | undefined> {
    if (this.schedulerReady) return undefined;
    try {
      await k.modprobe(`ip_vs_${this.scheduler}`);
      this.schedulerReady = true;
      return undefined;
    } catch (e) {
      if (full) this.opts.logger?.error({ scheduler: this.scheduler }, (e as Error).message);
      return `IPVS scheduler ${this.scheduler} is unavailable (${(e as Error).message})`;
    }
  }

  /**
   * Applies every step in one `ipvsadm -R` when possible. If that fails, the state is read
   * again and each service is applied on its own, so one bad service cannot block the
   * others; a service that still fails is rolled back to what it was. Returns the failures.
   */
  private async applySteps(steps: ServiceStep[], before: KernelState): Promise<Map<ServiceStep, string>> {
    const failed = new Map<ServiceStep, string>();
    const bindErrors = await k.changeAddresses('add', stepAddresses(steps));
    const bindOk: ServiceStep[] = [];
    for (const s of steps) {
      const error = s.addAddresses.map((a) => bindErrors.get(a)).find((e) => e !== undefined);
      if (error) failed.set(s, error);
      else bindOk.push(s);
    }
    const all = bindOk.flatMap((s) => s.ipvs);
    try {
      await k.applyIpvs(all);
      return failed;
    } catch (e) {
      if (bindOk.length === 1) {
        failed.set(bindOk[0]!, (e as Error).message);
        await this.rollback(bindOk[0]!, before);
        return failed;
      }
    }
    for (const s of bindOk) {
      const now = await k.readVirtualServers();
      const lines = s.service.virtualServers.flatMap((v) => {
        const key = vsKey(v.protocol, v.ip, v.port);
        return diffVirtualServer(v, now.get(key));
      });
      try {
        await k.applyIpvs(lines);
      } catch (e) {
        failed.set(s, (e as Error).message);
        await this.rollback(s, before);
      }
    }
    return failed;
  }

  /** Puts a service's virtual servers back as they were before this sync (best effort). */
  private async rollback(step: ServiceStep, before: KernelState): Promise<void> {
    const now = await k.readVirtualServers();
    const lines = step.service.virtualServers.flatMap((v) => {
      const key = vsKey(v.protocol, v.ip, v.port);
      return diffVirtualServer(before.virtualServers.get(key), now.get(key), { graceful: false });
    });
    await k.applyIpvs(lines).catch((e: Error) => this.opts.logger?.error({ service: step.service.label }, `rollback failed: ${e.message}`));
  }

  /** Addresses and set members added only for services that then failed are taken back. */
  private async undoFailedSteps(failed: Map<ServiceStep, string>, plan: SyncPlan, desired: DesiredService[]): Promise<void> {
    if (failed.size === 0) return;
    const failedKeys = new Set([...failed.keys()].map((s) => s.service.key));
    const ok = desired.filter((d) => !failedKeys.has(d.key) && !plan.failed.some((f) => f.key === d.key));
    const neededAddr = new Set(ok.flatMap((d) => d.bound));
    const neededEntries = new Set(ok.flatMap((d) => d.sets.map(entryKey)));
    throwIfAny(await k.changeAddresses('del', [...new Set([...failed.keys()].flatMap((s) => s.addAddresses))].filter((a) => !neededAddr.has(a))));
    const added = new Set(plan.addEntries.map(entryKey));
    const undo = [...failed.keys()].flatMap((s) => s.service.sets).filter((e) => added.has(entryKey(e)) && !neededEntries.has(entryKey(e)));
    await k.restoreSets({ del: undo });
  }

  private async deleteVirtualServers(lines: string[]): Promise<void> {
    try {
      await k.applyIpvs(lines);
    } catch {
      // One at a time, so that one that cannot be deleted does not keep the rest.
      for (const l of lines) await k.applyIpvs([l]).catch((e: Error) => this.opts.logger?.error({ line: l }, e.message));
    }
  }

  private recordOutcome(table: ServiceTable, desired: DesiredService[], plan: SyncPlan, failedSteps: Map<ServiceStep, string>): void {
    const failures = new Map<string, { label: string; error: string }>();
    for (const f of plan.failed) failures.set(f.key, { label: f.label, error: f.error });
    for (const [s, error] of failedSteps) failures.set(s.service.key, { label: s.service.label, error: `service ${s.service.label}: ${error}` });
    for (const d of desired) if (!failures.has(d.key)) this.lastApplied.set(d.key, d);
    for (const key of this.lastApplied.keys()) if (!table.services.has(key)) this.lastApplied.delete(key);
    this.failures.clear();
    // Reported to the proxier (sync's result), which logs, counts and retries them.
    for (const [key, f] of failures) this.failures.set(key, f.error);
  }

  /**
   * Our chains in one iptables-restore per family, plus the jumps from the built-in chains
   * that are missing (inserted in the same transaction). A partial sync with unchanged rules
   * costs nothing; a full sync reads iptables-save once per family and rewrites only if our
   * part of it differs from what it was right after our last write (someone flushed it).
   */
  private async syncRules(cli: IptablesCli, full: boolean): Promise<void> {
    const text = renderIptables(this.ruleOpts(cli.family));
    const last = this.appliedRules.get(cli.family);
    if (last?.text === text && !full) return;
    const saved = await k.iptablesSave(cli.family);
    if (last?.text === text && ourRules(saved) === last.saved) return;
    try {
      await cli.restore(withMissingJumps(text, tablesOf(saved)));
    } catch (e) {
      this.opts.metrics?.iptablesRestoreFailures.inc();
      throw e;
    }
    this.appliedRules.set(cli.family, { text, saved: ourRules(await k.iptablesSave(cli.family)) });
  }

  private ruleOpts(family: IPFamily) {
    return {
      family,
      clusterCIDR: this.opts.clusterCIDRs?.find((c) => familyOf(c.split('/')[0]!) === family),
      masqueradeAll: this.opts.masqueradeAll,
    };
  }
}

function throwIfAny(failed: Map<string, string>): void {
  if (failed.size > 0) throw new k.ToolError([...failed.values()].join('; '));
}

/** The addresses the steps bind, each once, in step order. */
function stepAddresses(steps: ServiceStep[]): string[] {
  return [...new Set(steps.flatMap((s) => s.addAddresses))];
}

async function chainsIn(cli: IptablesCli, table: 'filter' | 'nat', ours: string[]): Promise<string[]> {
  const present = new Set(parseSave(await cli.save(table).catch(() => '')).chains);
  return ours.filter((c) => present.has(c));
}
