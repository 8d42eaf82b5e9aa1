// Stale UDP conntrack entries (kube-proxy's conntrack cleanup). UDP has no connection
// teardown: a flow DNATed to an endpoint that is gone, or one that was created while the
// service had no endpoints, would keep its NAT binding until it idles out. After a
// successful restore we list UDP flows and delete those addressed to a service IP:port
// (or a NodePort) whose reply does not come from one of its serving endpoints.
import { ipFamily } from '../../model/validate.js';
import type { IPFamily, ServicePortChange, ServicePortEntry, ServiceTable } from '../../model/types.js';
import { run } from '../../util/exec.js';

export interface Flow {
  origDst: string;
  origDport: number;
  replySrc: string;
}

/** What to delete: `conntrack -D` arguments for one filter. */
export interface FlowFilter {
  origDst?: string;
  origDport: number;
  replySrc: string;
}

/** Parses `conntrack -L -p udp` lines: the first src/dst/ports are the original direction, the second the reply. */
export function parseConntrack(text: string): Flow[] {
  const flows: Flow[] = [];
  for (const line of text.split('\n')) {
    const dst = [...line.matchAll(/\bdst=(\S+)/g)].map((m) => m[1]!);
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]!);
    const dport = /\bdport=(\d+)/.exec(line);
    if (dst.length < 2 || src.length < 2 || !dport) continue;
    flows.push({ origDst: dst[0]!, origDport: Number(dport[1]), replySrc: src[1]! });
  }
  return flows;
}

/** Service frontends of UDP services → IPs of their serving endpoints; removed services map to none. */
function frontends(table: ServiceTable, removed: readonly ServicePortEntry[], family: IPFamily) {
  const byIPPort = new Map<string, Set<string>>();
  const byNodePort = new Map<number, Set<string>>();
  const add = (svc: ServicePortEntry, serving: Set<string>, overwrite: boolean) => {
    const ips = [...svc.clusterIPs, ...svc.externalIPs, ...svc.loadBalancerIPs].filter((ip) => ipFamily(ip) === family);
    for (const ip of ips) if (overwrite || !byIPPort.has(`${ip}|${svc.port}`)) byIPPort.set(`${ip}|${svc.port}`, serving);
    if (svc.nodePort !== 0 && (overwrite || !byNodePort.has(svc.nodePort))) byNodePort.set(svc.nodePort, serving);
  };
  for (const svc of table.services.values()) {
    if (svc.protocol !== 'UDP') continue;
    add(svc, new Set(svc.endpoints.filter((e) => e.serving && ipFamily(e.ip) === family).map((e) => e.ip)), true);
  }
  for (const svc of removed) if (svc.protocol === 'UDP') add(svc, new Set(), false);
  return { byIPPort, byNodePort };
}

/** The flows to delete (deduplicated). Pure. */
export function staleFlowFilters(flows: readonly Flow[], table: ServiceTable, removed: readonly ServicePortEntry[], family: IPFamily): FlowFilter[] {
  const { byIPPort, byNodePort } = frontends(table, removed, family);
  const out = new Map<string, FlowFilter>();
  for (const f of flows) {
    const eps = byIPPort.get(`${f.origDst}|${f.origDport}`);
    if (eps && !eps.has(f.replySrc)) out.set(`${f.origDst}|${f.origDport}|${f.replySrc}`, { origDst: f.origDst, origDport: f.origDport, replySrc: f.replySrc });
    const np = byNodePort.get(f.origDport);
    if (np && !np.has(f.replySrc)) out.set(`|${f.origDport}|${f.replySrc}`, { origDport: f.origDport, replySrc: f.replySrc });
  }
  return [...out.values()];
}

export function filterArgs(family: IPFamily, f: FlowFilter): string[] {
  const args = ['-D', '-f', family === 4 ? 'ipv4' : 'ipv6', '-p', 'udp'];
  if (f.origDst !== undefined) args.push('--orig-dst', f.origDst);
  args.push('--orig-port-dst', String(f.origDport), '--reply-src', f.replySrc);
  return args;
}

/**
 * Whether a sync has UDP flows to look at: undefined when it touched no UDP service port
 * (every one on a full sync or without a change list), else the UDP service ports it removed
 * (flows to those go as well).
 */
export function udpCleanupAfter(
  table: ServiceTable, changes: readonly ServicePortChange[] | undefined, full: boolean,
): { removed: ServicePortEntry[] } | undefined {
  const isUdp = (s: ServicePortEntry | undefined) => s?.protocol === 'UDP';
  const touched = full || !changes ? [...table.services.values()].some(isUdp) : changes.some((c) => isUdp(c.current) || isUdp(c.previous));
  if (!touched) return undefined;
  return { removed: (changes ?? []).flatMap((c) => (c.previous && !c.current && isUdp(c.previous) ? [c.previous] : [])) };
}

/** Lists and deletes stale UDP flows of one family; returns how many filters were applied. */
export async function cleanStaleUdpFlows(table: ServiceTable, removed: readonly ServicePortEntry[], family: IPFamily, netns?: string): Promise<number> {
  const list = await run('conntrack', ['-L', '-f', family === 4 ? 'ipv4' : 'ipv6', '-p', 'udp'], { allowFailure: true, timeoutMs: 30_000, netns });
  if (list.code !== 0) throw new Error(`conntrack -L failed: ${list.stderr.trim()}`);
  const filters = staleFlowFilters(parseConntrack(list.stdout), table, removed, family);
  // Exit status 1 just means "0 flow entries deleted" (already gone): not an error.
  for (const f of filters) await run('conntrack', filterArgs(family, f), { allowFailure: true, timeoutMs: 10_000, netns });
  return filters.length;
}
