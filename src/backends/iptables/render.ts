// ServiceTable → iptables-restore input, laid out as kube-proxy's iptables mode does.
// Pure: no kernel, no exec. Per-service rules come from render-service.ts; this file
// adds the fixed chains and assembles full or partial restore inputs.
import { ipFamily } from '../../model/validate.js';
import { thisNode } from '../../model/frontends.js';
import type { IPFamily, ServiceTable } from '../../model/types.js';
import { type IptablesRenderOptions, type ServiceRules, renderServiceRules } from './render-service.js';

export { probability, renderServiceRules } from './render-service.js';
export type { IptablesRenderOptions, ServiceRules } from './render-service.js';

export interface RenderedRuleset {
  filter: string;
  nat: string;
  /** Every per-service nat chain this ruleset defines (for stale-chain cleanup). */
  natChains: Set<string>;
}

/** Chains this proxy owns in each table besides the per-service ones. */
export const FILTER_CHAINS = ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL'];
export const NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];
/** Empty chain whose disappearance tells us someone flushed our rules (kube-proxy's canary). */
export const CANARY_CHAIN = 'KUBE-PROXY-CANARY';
export const PER_SERVICE_CHAIN = /^KUBE-(SVC|SEP|EXT|FW|SVL)-/;

/** kube-proxy drops per-endpoint comments above this many endpoints (large cluster mode). */
export const LARGE_CLUSTER_ENDPOINTS = 1000;
const DEFAULT_MARK = '0x4000';

/** Rules of the chains every ruleset has, independent of services. */
function fixedRules(mark: string, localhostNodePorts: boolean): { filter: string[]; nat: string[] } {
  return {
    filter: [
      // route_localnet lets 127.0.0.1 be routed (localhost NodePorts): nothing from outside
      // may reach loopback addresses that way (kube-proxy's and kubelet's KUBE-FIREWALL rule).
      ...(localhostNodePorts
        ? ['-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP']
        : []),
      '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
      `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
      '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    ],
    nat: [
      `-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`,
      // Clear the mark so a packet re-traversing the stack is not masqueraded twice.
      `-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`,
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
      `-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`,
    ],
  };
}

/**
 * The tail of nat KUBE-SERVICES: anything addressed to the node goes on to KUBE-NODEPORTS.
 * Loopback only with localhost NodePorts (IPv4); --nodeport-addresses lists the addresses instead.
 */
function nodePortsJump(opts: IptablesRenderOptions): string[] {
  const c = '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
  if (opts.nodePortIPs === undefined) {
    const notLoopback = opts.family === 6 ? ' ! -d ::1/128' : opts.localhostNodePorts ? '' : ' ! -d 127.0.0.0/8';
    return [`-A KUBE-SERVICES ${c} -m addrtype --dst-type LOCAL${notLoopback} -j KUBE-NODEPORTS`];
  }
  const mask = opts.family === 4 ? '/32' : '/128';
  return opts.nodePortIPs.map((ip) => `-A KUBE-SERVICES ${c} -d ${ip}${mask} -j KUBE-NODEPORTS`);
}

/** Endpoints of every service in one family: above LARGE_CLUSTER_ENDPOINTS, comments are dropped. */
export function countEndpoints(table: ServiceTable, family: IPFamily): number {
  let n = 0;
  for (const s of table.services.values()) for (const e of s.endpoints) if (ipFamily(e.ip) === family) n++;
  return n;
}

/** Per-service rules for every service of the table (sorted by key), in one family. */
export function renderAllServices(table: ServiceTable, opts: IptablesRenderOptions): ServiceRules[] {
  const node = thisNode(table);
  return [...table.services.values()]
    .sort((a, b) => (a.key < b.key ? -1 : 1))
    .map((s) => renderServiceRules(s, node, opts))
    .filter((r): r is ServiceRules => r !== undefined);
}

export interface AssembleInput {
  /** Every service's rules (the shared chains are always rewritten whole). */
  all: Iterable<ServiceRules>;
  /** Services whose own chains are (re)written: all of them on a full sync, the changed ones otherwise. */
  rewrite: Iterable<ServiceRules>;
  /** Per-service chains to flush and delete in the same transaction. */
  stale: Iterable<string>;
  /** Declare KUBE-PROXY-CANARY in mangle, nat and filter. */
  canary?: boolean;
}

export interface Assembled {
  /** Sections in restore order: filter, nat, then mangle when the canary is declared. */
  text: string;
  filter: string;
  nat: string;
  /** `-A` lines written (kube-proxy's sync_proxy_rules_iptables_last), per table and in all. */
  filterRules: number;
  natRules: number;
  rulesWritten: number;
}

/** One iptables-restore --noflush input. */
export function assemble(input: AssembleInput, opts: IptablesRenderOptions): Assembled {
  const mark = opts.masqueradeMark ?? DEFAULT_MARK;
  const fixed = fixedRules(mark, opts.family === 4 && opts.localhostNodePorts === true);
  const canary = input.canary ? [`:${CANARY_CHAIN} - [0:0]`] : [];
  const all = [...input.all];
  const rewrite = [...input.rewrite];
  const stale = [...input.stale].sort();

  const filter = ['*filter', ...FILTER_CHAINS.map((c) => `:${c} - [0:0]`), ...canary];
  for (const r of all) filter.push(...r.filter);
  filter.push(...fixed.filter, 'COMMIT');

  const nat = ['*nat', ...NAT_CHAINS.map((c) => `:${c} - [0:0]`), ...canary];
  for (const r of rewrite) for (const c of r.natChains.keys()) nat.push(`:${c} - [0:0]`);
  for (const c of stale) nat.push(`:${c} - [0:0]`);
  nat.push(...fixed.nat);
  for (const r of all) nat.push(...r.natShared.filter((l) => l.startsWith('-A KUBE-SERVICES ')));
  nat.push(...nodePortsJump(opts));
  for (const r of all) nat.push(...r.natShared.filter((l) => l.startsWith('-A KUBE-NODEPORTS ')));
  for (const r of rewrite) for (const rules of r.natChains.values()) nat.push(...rules);
  for (const c of stale) nat.push(`-X ${c}`);
  nat.push('COMMIT');

  const filterText = filter.join('\n') + '\n';
  const natText = nat.join('\n') + '\n';
  const mangle = input.canary ? `*mangle\n:${CANARY_CHAIN} - [0:0]\nCOMMIT\n` : '';
  const filterRules = filter.filter((l) => l.startsWith('-A ')).length;
  const natRules = nat.filter((l) => l.startsWith('-A ')).length;
  return { text: filterText + natText + mangle, filter: filterText, nat: natText, filterRules, natRules, rulesWritten: filterRules + natRules };
}

/**
 * The whole ruleset for one family. `staleChains` are per-service chains that exist in
 * the kernel but not in `table`: they are flushed and deleted in the same transaction.
 */
export function renderRuleset(table: ServiceTable, renderOpts: IptablesRenderOptions, staleChains: Iterable<string> = []): RenderedRuleset {
  const opts = { ...renderOpts, largeCluster: renderOpts.largeCluster ?? countEndpoints(table, renderOpts.family) > LARGE_CLUSTER_ENDPOINTS };
  const all = renderAllServices(table, opts);
  const natChains = new Set<string>();
  for (const r of all) for (const c of r.natChains.keys()) natChains.add(c);
  const stale = [...staleChains].filter((c) => !natChains.has(c));
  const a = assemble({ all, rewrite: all, stale }, opts);
  return { filter: a.filter, nat: a.nat, natChains };
}
