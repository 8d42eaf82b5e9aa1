// The whole sync as a plan: desired services vs. the kernel's current state → per-service
// steps (addresses to bind, ipvsadm lines) and the global removals (stale virtual servers,
// addresses, ipset members). Pure, so every decision is unit-tested without a kernel.
//
// A service that cannot be programmed (scheduler module missing, its frontend taken by
// another service, its ClusterIP already an address of another interface) is reported and
// left exactly as it is: nothing of it is added, changed or removed — including what it had
// before (its entries in `lastApplied`) — while every other service is synced normally.
import type { DesiredService } from './desired.js';
import { type SetContents, type SetEntry, allSetNames, entryKey, nodePortMember, nodePortRole, setName } from './ipsets.js';
import { deleteServiceLine } from './ipvsadm.js';
import { diffVirtualServer } from './ipvs-diff.js';
import { type VirtualServer, familyOf, vsKey } from './types.js';

export interface KernelState {
  virtualServers: Map<string, VirtualServer>;
  /** Addresses on kube-ipvs0. */
  bound: Set<string>;
  /** The node's addresses on every other interface → interface name. */
  otherAddresses: Map<string, string>;
  sets: SetContents;
}

export interface PlanInput {
  desired: DesiredService[];
  current: KernelState;
  /** Each service as this process last applied it successfully. */
  lastApplied: ReadonlyMap<string, DesiredService>;
  /** Why the scheduler cannot be used (module missing); services needing it then fail. */
  schedulerError?: string;
}

export interface ServiceStep {
  service: DesiredService;
  addAddresses: string[];
  /** ipvsadm -R input lines for this service's virtual servers. */
  ipvs: string[];
}

export interface ServiceFailure {
  key: string;
  label: string;
  error: string;
}

export interface SyncPlan {
  steps: ServiceStep[];
  failed: ServiceFailure[];
  /** ipvsadm -D lines for virtual servers we own that no service wants any more. */
  deleteVirtualServers: string[];
  deleteAddresses: string[];
  addEntries: SetEntry[];
  deleteEntries: SetEntry[];
}

function vsKeys(s: DesiredService | undefined): string[] {
  return s ? s.virtualServers.map((v) => vsKey(v.protocol, v.ip, v.port)) : [];
}

/** Why `svc` cannot be programmed now, or undefined. `claimed` holds frontends of earlier services. */
function validate(svc: DesiredService, input: PlanInput, claimed: Map<string, string>, ipvs: string[]): string | undefined {
  for (const v of svc.virtualServers) {
    const other = claimed.get(vsKey(v.protocol, v.ip, v.port));
    if (other) return `frontend ${vsKey(v.protocol, v.ip, v.port)} is already used by service ${other}`;
  }
  for (const v of svc.virtualServers) {
    const dev = input.current.otherAddresses.get(v.ip);
    if (v.kind === 'ClusterIP' && dev) return `ClusterIP ${v.ip} is already an address of interface ${dev}; refusing to bind it to kube-ipvs0`;
  }
  if (input.schedulerError && ipvs.some((l) => l.startsWith('-A ') || l.startsWith('-E '))) return input.schedulerError;
  return undefined;
}

/**
 * An externalIP or LB IP that is already an address of another interface (local anyway, and
 * not in the Node object, or desired.ts would have left it out) is neither bound to kube-ipvs0,
 * which would let a later unbind delete that interface's local route, nor put in IPVS-IPS,
 * whose reject rule would then refuse the node's own services on it. A ClusterIP there fails
 * validation instead.
 */
function withoutLocalAddresses(svc: DesiredService, others: ReadonlyMap<string, string>): DesiredService {
  const local = svc.bound.filter((a) => others.has(a) && !svc.virtualServers.some((v) => v.kind === 'ClusterIP' && v.ip === a));
  if (local.length === 0) return svc;
  const ipvsIps = new Set(local.map((a) => setName('IPVS-IPS', familyOf(a))));
  return { ...svc, bound: svc.bound.filter((a) => !local.includes(a)), sets: svc.sets.filter((e) => !(ipvsIps.has(e.set) && local.includes(e.member))) };
}

/** Whether a virtual server in the kernel is one of ours (so we may delete it). */
export function owned(vs: VirtualServer, state: Pick<KernelState, 'bound' | 'otherAddresses' | 'sets'>): boolean {
  if (state.bound.has(vs.ip)) return true;
  // NodePorts live on the node's own addresses; our node-port set records their ports.
  const ports = state.sets.get(setName(nodePortRole(vs.protocol, false), familyOf(vs.ip)));
  return state.otherAddresses.has(vs.ip) && (ports?.has(nodePortMember(vs.protocol, vs.ip, vs.port)) ?? false);
}

export function planSync(input: PlanInput): SyncPlan {
  const { current } = input;
  const steps: ServiceStep[] = [];
  const failed: ServiceFailure[] = [];
  const claimed = new Map<string, string>();
  const wantKeys = new Set<string>();
  const wantBound = new Set<string>();
  const wantEntries = new Map<string, SetEntry>();
  const keepKeys = new Set<string>();
  const keepBound = new Set<string>();
  const keepEntries = new Set<string>();

  for (const wanted of input.desired) {
    const svc = withoutLocalAddresses(wanted, current.otherAddresses);
    const ipvs = svc.virtualServers.flatMap((v) => diffVirtualServer(v, current.virtualServers.get(vsKey(v.protocol, v.ip, v.port))));
    const error = validate(svc, input, claimed, ipvs);
    if (error) {
      failed.push({ key: svc.key, label: svc.label, error: `service ${svc.label}: ${error}` });
      for (const s of [svc, input.lastApplied.get(svc.key)]) {
        for (const k of vsKeys(s)) keepKeys.add(k);
        for (const a of s?.bound ?? []) keepBound.add(a);
        for (const e of s?.sets ?? []) keepEntries.add(entryKey(e));
      }
      continue;
    }
    for (const k of vsKeys(svc)) {
      claimed.set(k, svc.label);
      wantKeys.add(k);
    }
    for (const a of svc.bound) wantBound.add(a);
    for (const e of svc.sets) if (!wantEntries.has(entryKey(e))) wantEntries.set(entryKey(e), e);
    const addAddresses = svc.bound.filter((a) => !current.bound.has(a));
    if (ipvs.length > 0 || addAddresses.length > 0) steps.push({ service: svc, addAddresses: addAddresses.filter((a, i, l) => l.indexOf(a) === i), ipvs });
  }
  // An address two services share is bound by the first step that needs it.
  const boundBySteps = new Set<string>();
  for (const s of steps) {
    s.addAddresses = s.addAddresses.filter((a) => !boundBySteps.has(a));
    for (const a of s.addAddresses) boundBySteps.add(a);
  }

  const deleteVirtualServers: string[] = [];
  for (const [k, vs] of current.virtualServers) {
    if (wantKeys.has(k) || keepKeys.has(k)) continue;
    const lastOwned = [...input.lastApplied.values()].some((s) => vsKeys(s).includes(k));
    if (lastOwned || owned(vs, current)) deleteVirtualServers.push(deleteServiceLine(vs));
  }
  const deleteAddresses = [...current.bound].filter((a) => !wantBound.has(a) && !keepBound.has(a)).sort();

  const addEntries: SetEntry[] = [];
  for (const e of wantEntries.values()) {
    const members = current.sets.get(e.set);
    if (!members?.has(e.member) || members.get(e.member) !== e.comment) addEntries.push(e);
  }
  const deleteEntries: SetEntry[] = [];
  const ours = new Set(allSetNames());
  for (const [set, members] of current.sets) {
    if (!ours.has(set)) continue;
    for (const member of members.keys()) {
      const k = entryKey({ set, member });
      if (!wantEntries.has(k) && !keepEntries.has(k)) deleteEntries.push({ set, member });
    }
  }
  return { steps, failed, deleteVirtualServers, deleteAddresses, addEntries, deleteEntries };
}

/** Whether the plan changes anything in the kernel. */
export function isNoop(p: SyncPlan): boolean {
  return p.steps.length + p.deleteVirtualServers.length + p.deleteAddresses.length + p.addEntries.length + p.deleteEntries.length === 0;
}
