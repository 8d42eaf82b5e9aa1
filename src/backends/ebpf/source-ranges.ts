// loadBalancerSourceRanges on the eBPF data plane: which IPv4 CIDRs a LoadBalancer frontend
// takes new flows from (lb_src_range entries, checked by tc_lb and the socket LB). Pure.
//
// Read per address family, as kube-proxy reads them: only the IPv4 ranges restrict an IPv4
// LB IP; a /0 among them means "everyone", the same as no ranges; when a range holds the
// node's own IP, the LB IPs themselves are let in too (a node reaching its own VIP-style LB
// IP shows up with that IP as source).
import { isIPv4, isIPv6 } from 'node:net';
import type { ServicePortEntry } from '../../model/types.js';
import { canonicalCIDR, cidrContains } from '../../util/cidr.js';
import { LB_SRC_SVC_BITS, type LbSrcKey } from './abi.js';

export interface SourceRanges {
  /** Canonical IPv4 CIDRs new flows may come from (empty: nobody). */
  cidrs: string[];
  /** Entries not applied, each with where it came from and why. */
  skipped: string[];
}

/**
 * The IPv4 ranges of `svc`, or undefined when its IPv4 LB IPs are not restricted (no ranges,
 * only IPv6 ones, or a /0). An entry that does not parse is skipped with its index: it
 * narrows what is allowed, never widens it (a Service whose only range is bad lets nobody in).
 */
export function ipv4SourceRanges(svc: ServicePortEntry, nodeIP: string | undefined): SourceRanges | undefined {
  if (svc.loadBalancerSourceRanges.length === 0) return undefined;
  const cidrs = new Set<string>();
  const skipped: string[] = [];
  let v4 = 0;
  svc.loadBalancerSourceRanges.forEach((raw, i) => {
    const entry = raw.trim();
    const where = `loadBalancerSourceRanges[${i}] ${JSON.stringify(raw)}`;
    const [base, bits, extra] = entry.split('/');
    if (base !== undefined && isIPv6(base)) {
      skipped.push(`${where}: IPv6 ranges do not apply to the IPv4-only eBPF data plane`);
      return;
    }
    v4++;
    const n = bits === undefined ? 32 : /^\d{1,2}$/.test(bits) ? Number(bits) : NaN;
    if (base === undefined || !isIPv4(base) || extra !== undefined || !(n >= 0 && n <= 32)) {
      skipped.push(`${where}: not an IPv4 CIDR, skipped (the other ranges still apply)`);
      return;
    }
    cidrs.add(canonicalCIDR(`${base}/${n}`));
  });
  if (v4 === 0) return undefined;
  if ([...cidrs].some((c) => c.endsWith('/0'))) return undefined;
  if (nodeIP !== undefined && [...cidrs].some((c) => cidrContains(c, nodeIP)))
    for (const ip of svc.loadBalancerIPs) if (isIPv4(ip)) cidrs.add(`${ip}/32`);
  return { cidrs: [...cidrs].sort(), skipped };
}

/** lb_src_range keys of one frontend: its svc_id, then the CIDR (prefix counts both). */
export function srcRangeKeys(svcId: number, cidrs: readonly string[]): LbSrcKey[] {
  return cidrs.map((c) => {
    const [addr, bits] = c.split('/');
    return { prefixlen: LB_SRC_SVC_BITS + Number(bits), svcId, addr: addr! };
  });
}
