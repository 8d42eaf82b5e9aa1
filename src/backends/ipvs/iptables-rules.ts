// The few fixed iptables rules of kube-proxy's IPVS mode. They never name a service: every
// per-service decision is an ipset lookup (ipsets.ts), so the rules are the same for 1 or
// 10 000 services and are rewritten whole (iptables-restore --noflush, atomic per table).
//
//   nat    PREROUTING/OUTPUT → KUBE-SERVICES: mark for masquerade (ClusterIP from outside
//          --cluster-cidr or with --masquerade-all; externalIP/LB/NodePort unless Local)
//          POSTROUTING → KUBE-POSTROUTING: masquerade hairpin (KUBE-LOOP-BACK) and marked flows
//   filter INPUT → KUBE-IPVS-FILTER: reject new connections to kube-ipvs0 addresses on
//          ports that are not services (IPVS itself refuses a virtual server without real
//          servers: ICMP port unreachable)
//          INPUT → KUBE-NODE-PORT: accept the health-check node ports (a DROP policy must
//          not hide them from the load balancer's probes)
//          FORWARD → KUBE-FORWARD: accept marked and established service flows (a DROP policy
//          must not break them)
//          INPUT/FORWARD → KUBE-PROXY-FIREWALL → KUBE-SOURCE-RANGES-FIREWALL: LB IPs with
//          loadBalancerSourceRanges drop sources outside them
import type { IPFamily } from '../../model/types.js';
import { type JumpRule, jumpSpec } from '../netfilter/jumps.js';
import { type SetRole, nodePortRole, setName } from './ipsets.js';

export const MASQ_MARK = '0x4000';
export const NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-NODE-PORT', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];
export const FILTER_CHAINS = ['KUBE-IPVS-FILTER', 'KUBE-FORWARD', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL'];

const comment = (c: string) => `-m comment --comment "${c}"`;

export const IPVS_JUMP_RULES: JumpRule[] = [
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', args: ['-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', args: ['-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'nat', from: 'POSTROUTING', to: 'KUBE-POSTROUTING', args: ['-m', 'comment', '--comment', 'kubernetes postrouting rules'] },
  { table: 'filter', from: 'INPUT', to: 'KUBE-IPVS-FILTER', args: ['-m', 'comment', '--comment', 'kubernetes ipvs access filter'] },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', args: ['-m', 'comment', '--comment', 'kubernetes forwarding rules'] },
  { table: 'filter', from: 'INPUT', to: 'KUBE-NODE-PORT', args: ['-m', 'comment', '--comment', 'kubernetes health check rules'] },
  { table: 'filter', from: 'INPUT', to: 'KUBE-PROXY-FIREWALL', args: ['-m', 'comment', '--comment', 'kube-proxy firewall rules'] },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-PROXY-FIREWALL', args: ['-m', 'comment', '--comment', 'kube-proxy firewall rules'] },
];

export interface IptablesRuleOptions {
  family: IPFamily;
  /** --cluster-cidr of this family; without it (and without masqueradeAll) ClusterIP traffic is never masqueraded. */
  clusterCIDR?: string;
  masqueradeAll?: boolean;
}

/** iptables-restore --noflush input for one family: our chains, declared (= flushed) and refilled. */
export function renderIptables(opts: IptablesRuleOptions): string {
  const set = (role: SetRole) => setName(role, opts.family);
  const match = (role: SetRole, dirs = 'dst,dst') => `-m set --match-set ${set(role)} ${dirs}`;
  const nat: string[] = [];
  const svc = (rule: string) => nat.push(`-A KUBE-SERVICES ${rule}`);
  if (opts.masqueradeAll) svc(`${comment('Kubernetes service cluster ip + port for masquerade purpose')} ${match('CLUSTER-IP')} -j KUBE-MARK-MASQ`);
  else if (opts.clusterCIDR) svc(`${comment('Kubernetes service cluster ip + port for masquerade purpose')} ! -s ${opts.clusterCIDR} ${match('CLUSTER-IP')} -j KUBE-MARK-MASQ`);
  // A ClusterIP is a local address too: stop here so a coinciding node port does not apply.
  svc(`${match('CLUSTER-IP')} -j RETURN`);
  for (const [local, all, what] of [['EXTERNAL-IP-LOCAL', 'EXTERNAL-IP', 'external ip'], ['LOAD-BALANCER-LOCAL', 'LOAD-BALANCER', 'load balancer ip']] as const) {
    svc(`${comment(`Kubernetes service ${what} + port with externalTrafficPolicy=Local`)} ${match(local)} -j RETURN`);
    svc(`${comment(`Kubernetes service ${what} + port for masquerade purpose`)} ${match(all)} -j KUBE-MARK-MASQ`);
    svc(`${match(all)} -j RETURN`);
  }
  svc(`${comment('kubernetes service nodeports')} -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT`);
  for (const proto of ['TCP', 'UDP', 'SCTP'] as const) {
    const p = proto.toLowerCase();
    // SCTP sets hold address,port (hash:ip,port); TCP and UDP ones the port (bitmap:port).
    const dirs = proto === 'SCTP' ? 'dst,dst' : 'dst';
    nat.push(`-A KUBE-NODE-PORT -p ${p} ${match(nodePortRole(proto, true), dirs)} -j RETURN`);
    nat.push(`-A KUBE-NODE-PORT -p ${p} ${comment(`Kubernetes nodeport ${p} port for masquerade purpose`)} ${match(nodePortRole(proto, false), dirs)} -j KUBE-MARK-MASQ`);
  }
  nat.push(
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`,
    `-A KUBE-POSTROUTING ${comment('Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose')} ${match('LOOP-BACK', 'dst,dst,src')} -j MASQUERADE`,
    `-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    // Clear the mark so a packet re-traversing the stack is not masqueraded twice.
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`,
    `-A KUBE-POSTROUTING ${comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
  );

  const filter = [
    ...(['LOAD-BALANCER', 'CLUSTER-IP', 'EXTERNAL-IP', 'EXTERNAL-IP-LOCAL'] as const).map((r) => `-A KUBE-IPVS-FILTER ${match(r)} -j RETURN`),
    `-A KUBE-IPVS-FILTER ${match('HEALTH-CHECK-NODE-PORT', 'dst')} -j RETURN`,
    `-A KUBE-IPVS-FILTER ${comment('kube-ipvs0 address, port that is no service')} -m conntrack --ctstate NEW ${match('IPVS-IPS', 'dst')} -j REJECT`,
    // No INVALID drop here (kube-proxy's iptables mode has one): IPVS replies are un-NATed
    // after filter FORWARD, and we do not want to second-guess conntrack on them.
    `-A KUBE-FORWARD ${comment('kubernetes forwarding rules')} -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j ACCEPT`,
    `-A KUBE-FORWARD ${comment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A KUBE-NODE-PORT ${comment('Kubernetes health check node port')} ${match('HEALTH-CHECK-NODE-PORT', 'dst')} -j ACCEPT`,
    // loadBalancerSourceRanges: a LB IP:port with ranges lets in only sources inside them.
    `-A KUBE-PROXY-FIREWALL ${match('LOAD-BALANCER-FW')} -j KUBE-SOURCE-RANGES-FIREWALL`,
    `-A KUBE-SOURCE-RANGES-FIREWALL ${match('LOAD-BALANCER-SOURCE-CIDR', 'dst,dst,src')} -j RETURN`,
    `-A KUBE-SOURCE-RANGES-FIREWALL ${match('LOAD-BALANCER-SOURCE-IP', 'dst,dst,src')} -j RETURN`,
    '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
  ];
  const table = (name: string, chains: string[], rules: string[]) => [`*${name}`, ...chains.map((c) => `:${c} - [0:0]`), ...rules, 'COMMIT'];
  return [...table('filter', FILTER_CHAINS, filter), ...table('nat', NAT_CHAINS, nat)].join('\n') + '\n';
}

/** Adds `-I` lines to `text` for the jump rules `saved` (iptables-save per table) lacks. */
export function withMissingJumps(text: string, saved: { filter: string; nat: string }): string {
  let out = text;
  for (const table of ['filter', 'nat'] as const) {
    const have = new Set(saved[table].split('\n'));
    const missing = IPVS_JUMP_RULES.filter((j) => j.table === table && !have.has(`-A ${jumpSpec(j)}`));
    if (missing.length === 0) continue;
    const head = `*${table}\n`;
    const at = out.indexOf(head);
    const commit = out.indexOf('COMMIT\n', at);
    out = out.slice(0, commit) + missing.map((j) => `-I ${jumpSpec(j)}\n`).join('') + out.slice(commit);
  }
  return out;
}

/** Splits a whole iptables-save into its filter and nat parts. */
export function tablesOf(save: string): { filter: string; nat: string } {
  const out = { filter: '', nat: '' };
  for (const m of save.matchAll(/(?:^|\n)\*([a-z]+)\n([\s\S]*?)\nCOMMIT/g)) if (m[1] === 'filter' || m[1] === 'nat') out[m[1]] = m[2]!;
  return out;
}

/** Our chains, their rules and our jumps out of an iptables-save, in order (change detection). */
export function ourRules(save: string): string {
  const chains = new Set([...FILTER_CHAINS, ...NAT_CHAINS]);
  const jumps = new Set(IPVS_JUMP_RULES.map((j) => `-A ${jumpSpec(j)}`));
  const t = tablesOf(save);
  return (['filter', 'nat'] as const)
    .flatMap((name) =>
      t[name]
        .split('\n')
        .filter((l) => jumps.has(l) || chains.has(/^-A (\S+)/.exec(l)?.[1] ?? '') || chains.has(/^:(\S+) /.exec(l)?.[1] ?? ''))
        .map((l) => `${name} ${l.replace(/ \[\d+:\d+\]$/, '')}`),
    )
    .join('\n');
}
