// ServiceTable → iptables-restore input, laid out as kube-proxy's iptables mode does.
// Pure: no kernel, no exec. Applying is apply.ts; reading back is inspect.ts.
import { ipFamily } from '../../model/validate.js';
import { selectEndpoints } from '../../model/select-endpoints.js';
import { servicePortNameString } from '../../model/service-port-name.js';
import type { Endpoint, IPFamily, ServicePortEntry, ServiceTable } from '../../model/types.js';
import { endpointChain, servicePortChain } from './chain-names.js';

export interface IptablesRenderOptions {
  family: IPFamily;
  /** --cluster-cidr: traffic to a ClusterIP from outside it is masqueraded. */
  clusterCIDR?: string;
  /** --masquerade-all: masquerade all ClusterIP traffic. */
  masqueradeAll?: boolean;
  /** The masquerade mark (kube-proxy: 1 << 14). */
  masqueradeMark?: string;
}

/** The rules of one service port, kept apart so partial syncs can rewrite only its chains. */
export interface ServiceRules {
  key: string;
  /** Rules appended to nat KUBE-SERVICES (the ClusterIP dispatch). */
  natServices: string[];
  /** Rules appended to filter KUBE-SERVICES (REJECT when there are no endpoints). */
  filterServices: string[];
  /** Per-service nat chains with their rules (KUBE-SVC-…, KUBE-SEP-…). */
  natChains: Map<string, string[]>;
}

export interface RenderedRuleset {
  filter: string;
  nat: string;
  /** Every KUBE-SVC/KUBE-SEP chain this ruleset defines (for stale-chain cleanup). */
  natChains: Set<string>;
}

/** Chains this proxy owns in each table besides the per-service ones. */
export const FILTER_CHAINS = ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL'];
export const NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];

const DEFAULT_MARK = '0x4000';

/** `%0.10f` of 1/(n-i): the chance that rule i of n picks its endpoint given rules before it did not. */
export function probability(n: number, i: number): string {
  return (1 / (n - i)).toFixed(10);
}

function quote(s: string): string {
  return /[\s"]/.test(s) ? `"${s.replace(/"/g, '\\"')}"` : s;
}

function hostPort(ip: string, port: number): string {
  return ipFamily(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function hostMask(fam: IPFamily): string {
  return fam === 4 ? '/32' : '/128';
}

export function renderServiceRules(svc: ServicePortEntry, table: ServiceTable, opts: IptablesRenderOptions): ServiceRules | undefined {
  if (svc.protocol === 'SCTP') return undefined; // iptables could, but the test kernels lack SCTP: skipped (logged by the backend)
  const vips = svc.clusterIPs.filter((ip) => ipFamily(ip) === opts.family);
  if (vips.length === 0) return undefined;
  const spn = servicePortNameString(svc.name);
  const proto = svc.protocol.toLowerCase();
  const sel = selectEndpoints(svc, table.nodeName);
  const endpoints = sel.internal.filter((e) => ipFamily(e.ip) === opts.family);
  const out: ServiceRules = { key: svc.key, natServices: [], filterServices: [], natChains: new Map() };
  const mask = hostMask(opts.family);

  if (endpoints.length === 0) {
    // No usable endpoint: refuse at once rather than let clients time out.
    for (const vip of vips) {
      out.filterServices.push(
        `-A KUBE-SERVICES -m comment --comment ${quote(`${spn} has no endpoints`)} -m ${proto} -p ${proto} -d ${vip}${mask} --dport ${svc.port} -j REJECT`,
      );
    }
    return out;
  }

  const svcChain = servicePortChain('KUBE-SVC-', svc.name);
  const svcRules: string[] = [];
  for (const vip of vips) {
    out.natServices.push(
      `-A KUBE-SERVICES -m comment --comment ${quote(`${spn} cluster IP`)} -m ${proto} -p ${proto} -d ${vip}${mask} --dport ${svc.port} -j ${svcChain}`,
    );
    const masq = masqueradeMatch(opts);
    if (masq !== undefined) {
      svcRules.push(
        `-A ${svcChain} -m comment --comment ${quote(`${spn} cluster IP`)} -m ${proto} -p ${proto} -d ${vip}${mask} --dport ${svc.port}${masq} -j KUBE-MARK-MASQ`,
      );
    }
  }
  const affinity = svc.sessionAffinity.type === 'ClientIP' ? svc.sessionAffinity.timeoutSeconds : undefined;
  const seps = endpoints.map((ep) => ({ ep, chain: endpointChain(svc.name, hostPort(ep.ip, ep.port)) }));
  if (affinity !== undefined) {
    // A client seen recently goes back to the endpoint it used (xt_recent per SEP chain).
    for (const { ep, chain } of seps) {
      svcRules.push(
        `-A ${svcChain} -m comment --comment ${quote(`${spn} -> ${hostPort(ep.ip, ep.port)}`)} -m recent --name ${chain} --rcheck --seconds ${affinity} --reap -j ${chain}`,
      );
    }
  }
  seps.forEach(({ ep, chain }, i) => {
    const comment = `-m comment --comment ${quote(`${spn} -> ${hostPort(ep.ip, ep.port)}`)}`;
    const stat = i < seps.length - 1 ? ` -m statistic --mode random --probability ${probability(seps.length, i)}` : '';
    svcRules.push(`-A ${svcChain} ${comment}${stat} -j ${chain}`);
  });
  out.natChains.set(svcChain, svcRules);
  for (const { ep, chain } of seps) out.natChains.set(chain, sepRules(chain, spn, proto, ep, opts.family, affinity !== undefined));
  return out;
}

function masqueradeMatch(opts: IptablesRenderOptions): string | undefined {
  if (opts.masqueradeAll) return '';
  if (opts.clusterCIDR) return ` ! -s ${opts.clusterCIDR}`;
  return undefined;
}

function sepRules(chain: string, spn: string, proto: string, ep: Endpoint, fam: IPFamily, affinity: boolean): string[] {
  const comment = `-m comment --comment ${quote(spn)}`;
  const recent = affinity ? ` -m recent --name ${chain} --set` : '';
  return [
    // Hairpin: a pod reaching itself through the Service must be SNATed or it would answer itself directly.
    `-A ${chain} ${comment} -s ${ep.ip}${hostMask(fam)} -j KUBE-MARK-MASQ`,
    `-A ${chain} ${comment}${recent} -m ${proto} -p ${proto} -j DNAT --to-destination ${hostPort(ep.ip, ep.port)}`,
  ];
}

/** Rules of the chains every ruleset has, independent of services. */
function fixedRules(mark: string): { filter: string[]; nat: string[] } {
  return {
    filter: [
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
 * The whole ruleset for one family. `staleChains` are KUBE-SVC/SEP chains that exist in
 * the kernel but not in `table`: they are flushed and deleted in the same transaction.
 */
export function renderRuleset(table: ServiceTable, opts: IptablesRenderOptions, staleChains: Iterable<string> = []): RenderedRuleset {
  const mark = opts.masqueradeMark ?? DEFAULT_MARK;
  const fixed = fixedRules(mark);
  const perService = [...table.services.values()]
    .sort((a, b) => (a.key < b.key ? -1 : 1))
    .map((s) => renderServiceRules(s, table, opts))
    .filter((r): r is ServiceRules => r !== undefined);

  const natChains = new Set<string>();
  for (const r of perService) for (const c of r.natChains.keys()) natChains.add(c);
  const stale = [...staleChains].filter((c) => !natChains.has(c)).sort();

  const filter = ['*filter', ...FILTER_CHAINS.map((c) => `:${c} - [0:0]`)];
  for (const r of perService) filter.push(...r.filterServices);
  filter.push(...fixed.filter, 'COMMIT');

  const nat = ['*nat', ...NAT_CHAINS.map((c) => `:${c} - [0:0]`)];
  for (const r of perService) for (const c of r.natChains.keys()) nat.push(`:${c} - [0:0]`);
  for (const c of stale) nat.push(`:${c} - [0:0]`);
  nat.push(...fixed.nat);
  for (const r of perService) nat.push(...r.natServices);
  nat.push(
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
  );
  for (const r of perService) for (const rules of r.natChains.values()) nat.push(...rules);
  for (const c of stale) nat.push(`-X ${c}`);
  nat.push('COMMIT');

  return { filter: filter.join('\n') + '\n', nat: nat.join('\n') + '\n', natChains };
}
