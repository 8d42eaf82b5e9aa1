// One service port → its iptables rules, laid out as kube-proxy's iptables mode writes
// them (ClusterIP, externalIPs, LoadBalancer IPs, NodePort, traffic policies, affinity).
// Pure. The rules are grouped by where they go so that a partial sync can rewrite the
// shared chains from cached groups and only the changed services' own chains.
import { ipFamily } from '../../model/validate.js';
import type { ThisNode } from '../../model/frontends.js';
import { hasExternal, selectEndpoints } from '../../model/select-endpoints.js';
import { servicePortNameString } from '../../model/service-port-name.js';
import type { Endpoint, IPFamily, ServicePortEntry } from '../../model/types.js';
import { endpointChain, servicePortChain } from './chain-names.js';
import { quote } from '../netfilter/jumps.js';
import { cidrContains } from '../../util/cidr.js';

export interface IptablesRenderOptions {
  family: IPFamily;
  /** --cluster-cidr of this family: the "local traffic detector" (pod traffic = from it). */
  clusterCIDR?: string;
  /** --masquerade-all: masquerade all ClusterIP traffic. */
  masqueradeAll?: boolean;
  /** The masquerade mark (kube-proxy: 1 << 14). */
  masqueradeMark?: string;
  /**
   * Node addresses NodePorts answer on (--nodeport-addresses, already matched against the
   * node's interfaces). Undefined: every local address (`--dst-type LOCAL`).
   */
  nodePortIPs?: string[];
  /** Drop the per-endpoint comments (kube-proxy's large cluster mode, > 1000 endpoints). */
  largeCluster?: boolean;
  /** NodePorts on 127.0.0.1 too (IPv4; route_localnet set by the backend, guarded by KUBE-FIREWALL). */
  localhostNodePorts?: boolean;
}

/** The rules of one service port in one family. */
export interface ServiceRules {
  key: string;
  /** Rules for filter KUBE-SERVICES / KUBE-EXTERNAL-SERVICES / KUBE-NODEPORTS (rewritten every sync). */
  filter: string[];
  /** Rules for nat KUBE-SERVICES / KUBE-NODEPORTS (rewritten every sync). */
  natShared: string[];
  /** The service's own nat chains (KUBE-EXT/SVC/SVL/SEP) in kube-proxy's order, with their rules. */
  natChains: Map<string, string[]>;
  /** Endpoints this service has in this family (counted for large cluster mode). */
  endpointCount: number;
}



export function hostPort(ip: string, port: number): string {
  return ipFamily(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function hostMask(fam: IPFamily): string {
  return fam === 4 ? '/32' : '/128';
}

/** `%0.10f` of 1/(n-i): the chance that rule i of n picks its endpoint given rules before it did not. */
export function probability(n: number, i: number): string {
  return (1 / (n - i)).toFixed(10);
}

const comment = (text: string) => `-m comment --comment ${quote(text)}`;

export function renderServiceRules(svc: ServicePortEntry, node: ThisNode, opts: IptablesRenderOptions): ServiceRules | undefined {
  if (svc.protocol === 'SCTP') return undefined; // the test kernels lack SCTP: skipped (logged by the backend)
  const fam = opts.family;
  const inFamily = (ip: string) => ipFamily(ip) === fam;
  const clusterIP = svc.clusterIPs.find(inFamily);
  if (clusterIP === undefined) return undefined;
  const mask = hostMask(fam);
  const spn = servicePortNameString(svc.name);
  const p = svc.protocol.toLowerCase();
  const famEndpoints = svc.endpoints.filter((e) => inFamily(e.ip));
  const sel = selectEndpoints({ ...svc, endpoints: famEndpoints }, node.nodeName, node.zone);
  const externalIPs = svc.externalIPs.filter(inFamily);
  const lbIPs = svc.loadBalancerIPs.filter(inFamily);
  const sourceRanges = svc.loadBalancerSourceRanges.filter((c) => inFamily(c.split('/')[0]!));
  const external = hasExternal({ ...svc, externalIPs, loadBalancerIPs: lbIPs });
  const eLocal = external && svc.externalTrafficPolicy === 'Local';
  const iLocal = svc.internalTrafficPolicy === 'Local';

  // Which policy chains exist (kube-proxy: UsesClusterEndpoints / UsesLocalEndpoints).
  const usesCluster = sel.cluster.length > 0 && (!iLocal || external);
  const usesLocal = sel.local.length > 0 && (iLocal || eLocal);
  const hasEndpoints = sel.hasAny;
  const hasInternal = hasEndpoints && (!iLocal || sel.local.length > 0);
  const hasExternalEps = hasEndpoints && (!eLocal || sel.local.length > 0);
  const svcChain = servicePortChain('KUBE-SVC-', svc.name);
  const svlChain = servicePortChain('KUBE-SVL-', svc.name);
  const extChain = servicePortChain('KUBE-EXT-', svc.name);
  // loadBalancerSourceRanges: LB IP traffic goes through KUBE-FW-, which lets the ranges on
  // to KUBE-EXT-; what falls off its end is dropped by KUBE-PROXY-FIREWALL (filter).
  const fwChain = servicePortChain('KUBE-FW-', svc.name);
  const usesFirewall = hasEndpoints && lbIPs.length > 0 && sourceRanges.length > 0;
  const lbChain = usesFirewall ? fwChain : extChain;
  const internalChain = iLocal ? svlChain : svcChain;
  const externalPolicyChain = eLocal ? svlChain : svcChain;

  const out: ServiceRules = { key: svc.key, filter: [], natShared: [], natChains: new Map(), endpointCount: famEndpoints.length };
  // With no endpoints anywhere: REJECT (refused at once); with none for this policy: DROP.
  const noEps = comment(`${spn} has no endpoints`);
  const noLocal = comment(`${spn} has no local endpoints`);
  const why = hasEndpoints ? noLocal : noEps;
  const refuse = hasEndpoints ? 'DROP' : 'REJECT';
  const dst = (ip: string, port: number) => `-m ${p} -p ${p} -d ${ip}${mask} --dport ${port}`;

  if (hasInternal) out.natShared.push(`-A KUBE-SERVICES ${comment(`${spn} cluster IP`)} ${dst(clusterIP, svc.port)} -j ${internalChain}`);
  else out.filter.push(`-A KUBE-SERVICES ${why} ${dst(clusterIP, svc.port)} -j ${refuse}`);

  for (const ip of externalIPs) {
    if (hasEndpoints) out.natShared.push(`-A KUBE-SERVICES ${comment(`${spn} external IP`)} ${dst(ip, svc.port)} -j ${extChain}`);
    if (!hasExternalEps) out.filter.push(`-A KUBE-EXTERNAL-SERVICES ${why} ${dst(ip, svc.port)} -j ${refuse}`);
  }
  for (const ip of lbIPs) {
    if (hasEndpoints) out.natShared.push(`-A KUBE-SERVICES ${comment(`${spn} loadbalancer IP`)} ${dst(ip, svc.port)} -j ${lbChain}`);
    if (usesFirewall) out.filter.push(`-A KUBE-PROXY-FIREWALL ${comment(`${spn} traffic not accepted by ${fwChain}`)} ${dst(ip, svc.port)} -j DROP`);
  }
  if (!hasExternalEps) {
    for (const ip of lbIPs) out.filter.push(`-A KUBE-EXTERNAL-SERVICES ${why} ${dst(ip, svc.port)} -j ${refuse}`);
  }
  if (svc.nodePort !== 0) {
    if (hasEndpoints) out.natShared.push(`-A KUBE-NODEPORTS ${comment(spn)} -m ${p} -p ${p} --dport ${svc.nodePort} -j ${extChain}`);
    if (!hasExternalEps) out.filter.push(`-A KUBE-EXTERNAL-SERVICES ${why} -m addrtype --dst-type LOCAL -m ${p} -p ${p} --dport ${svc.nodePort} -j ${refuse}`);
  }
  if (svc.healthCheckNodePort !== 0) {
    // The health check answers whether or not this node has endpoints: always let it in.
    out.filter.push(`-A KUBE-NODEPORTS ${comment(`${spn} health check node port`)} -m tcp -p tcp --dport ${svc.healthCheckNodePort} -j ACCEPT`);
  }

  const chains = out.natChains;
  const masq = masqueradeMatch(opts);
  const internalMasq =
    hasInternal && masq !== undefined ? [`-A ${internalChain} ${comment(`${spn} cluster IP`)} ${dst(clusterIP, svc.port)}${masq} -j KUBE-MARK-MASQ`] : [];

  if (hasEndpoints && external) {
    const ext: string[] = [];
    if (!eLocal) {
      // Cluster policy may send external traffic to another node: masquerade so replies come back.
      ext.push(`-A ${extChain} ${comment(`masquerade traffic for ${spn} external destinations`)} -j KUBE-MARK-MASQ`);
    } else {
      // Short-circuit: pods and the node itself reach external IPs as if via the LB and back
      // in, so they use every endpoint; only traffic from outside is restricted to local ones.
      if (opts.clusterCIDR) ext.push(`-A ${extChain} ${comment(`pod traffic for ${spn} external destinations`)} -s ${opts.clusterCIDR} -j ${svcChain}`);
      ext.push(`-A ${extChain} ${comment(`masquerade LOCAL traffic for ${spn} external destinations`)} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`);
      ext.push(`-A ${extChain} ${comment(`route LOCAL traffic for ${spn} external destinations`)} -m addrtype --src-type LOCAL -j ${svcChain}`);
    }
    if (hasExternalEps) ext.push(`-A ${extChain} -j ${externalPolicyChain}`);
    chains.set(extChain, ext);
  }

  if (usesFirewall) {
    const allowed = comment(`${spn} loadbalancer IP`);
    const fw = sourceRanges.map((c) => `-A ${fwChain} ${allowed} -s ${c} -j ${extChain}`);
    // A VIP-like LB often makes its IP local: the node's own requests then come from the LB IP.
    const primary = node.primaryIPs[fam];
    if (primary !== undefined && sourceRanges.some((c) => cidrContains(c, primary))) for (const ip of lbIPs) fw.push(`-A ${fwChain} ${allowed} -s ${ip}${mask} -j ${extChain}`);
    fw.push(`-A ${fwChain} ${comment(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`)}`);
    chains.set(fwChain, fw);
  }

  const affinity = svc.sessionAffinity.type === 'ClientIP' ? svc.sessionAffinity.timeoutSeconds : undefined;
  const epComment = (ep: Endpoint) => (opts.largeCluster ? '' : ` ${comment(`${spn} -> ${hostPort(ep.ip, ep.port)}`)}`);
  const policyRules = (chain: string, eps: Endpoint[], head: string[]) => {
    const rules = [...head];
    if (affinity !== undefined) {
      // A client seen recently goes back to the endpoint it used (xt_recent per SEP chain).
      for (const ep of eps) {
        const sep = endpointChain(svc.name, hostPort(ep.ip, ep.port));
        rules.push(`-A ${chain}${epComment(ep)} -m recent --name ${sep} --rcheck --seconds ${affinity} --reap -j ${sep}`);
      }
    }
    eps.forEach((ep, i) => {
      const stat = i < eps.length - 1 ? ` -m statistic --mode random --probability ${probability(eps.length, i)}` : '';
      rules.push(`-A ${chain}${epComment(ep)}${stat} -j ${endpointChain(svc.name, hostPort(ep.ip, ep.port))}`);
    });
    chains.set(chain, rules);
  };
  if (usesCluster) policyRules(svcChain, sel.cluster, internalChain === svcChain ? internalMasq : []);
  if (usesLocal) policyRules(svlChain, sel.local, internalChain === svlChain ? internalMasq : []);

  // One SEP chain per endpoint reachable through either policy chain.
  const reachable = new Map<string, Endpoint>();
  if (usesCluster) for (const ep of sel.cluster) reachable.set(hostPort(ep.ip, ep.port), ep);
  if (usesLocal) for (const ep of sel.local) reachable.set(hostPort(ep.ip, ep.port), ep);
  for (const [hp, ep] of reachable) {
    const sep = endpointChain(svc.name, hp);
    const head = `-A ${sep}${opts.largeCluster ? '' : ` ${comment(spn)}`}`;
    const recent = affinity !== undefined ? ` -m recent --name ${sep} --set` : '';
    chains.set(sep, [
      // Hairpin: a pod reaching itself through the Service must be SNATed or it would answer itself directly.
      `${head} -s ${ep.ip}${mask} -j KUBE-MARK-MASQ`,
      `${head}${recent} -m ${p} -p ${p} -j DNAT --to-destination ${hp}`,
    ]);
  }
  return out;
}

function masqueradeMatch(opts: IptablesRenderOptions): string | undefined {
  if (opts.masqueradeAll) return '';
  if (opts.clusterCIDR) return ` ! -s ${opts.clusterCIDR}`;
  return undefined;
}
