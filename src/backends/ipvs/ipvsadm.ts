// ipvsadm's two text formats: the `-Ln --exact` listing we read the kernel state from, and
// the command lines `ipvsadm -R` takes. Pure.
import type { Protocol } from '../../model/types.js';
import { type RealServer, type VirtualServer, canonicalIP, hostPort, vsKey } from './types.js';

const PROTO_FLAG: Record<Protocol, string> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };

/** `-t 198.19.1.175:80`: how ipvsadm names a virtual server. */
export function serviceArgs(vs: Pick<VirtualServer, 'protocol' | 'ip' | 'port'>): string {
  return `${PROTO_FLAG[vs.protocol]} ${hostPort(vs.ip, vs.port)}`;
}

export function addServiceLine(vs: VirtualServer, edit = false): string {
  const p = vs.persistence !== undefined ? ` -p ${vs.persistence}` : '';
  return `${edit ? '-E' : '-A'} ${serviceArgs(vs)} -s ${vs.scheduler}${p}`;
}

export function deleteServiceLine(vs: Pick<VirtualServer, 'protocol' | 'ip' | 'port'>): string {
  return `-D ${serviceArgs(vs)}`;
}

/** Real servers are always masqueraded (-m): the proxy's DNAT, as kube-proxy's IPVS mode. */
export function realServerLine(vs: VirtualServer, rs: Pick<RealServer, 'ip' | 'port' | 'weight'>, edit = false): string {
  return `${edit ? '-e' : '-a'} ${serviceArgs(vs)} -r ${hostPort(rs.ip, rs.port)} -m -w ${rs.weight}`;
}

export function deleteRealServerLine(vs: VirtualServer, rs: Pick<RealServer, 'ip' | 'port'>): string {
  return `-d ${serviceArgs(vs)} -r ${hostPort(rs.ip, rs.port)}`;
}

function splitHostPort(s: string): { ip: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s);
  return m ? { ip: canonicalIP(m[1]!), port: Number(m[2]) } : undefined;
}

/**
 * Parses `ipvsadm -Ln --exact`:
 *   TCP  198.19.1.175:80 rr persistent 180
 *     -> 198.18.1.2:9376              Masq    1      0          0
 * Firewall-mark services (FWM) are not ours and are skipped with their real servers.
 */
export function parseIpvsList(text: string): Map<string, VirtualServer> {
  const out = new Map<string, VirtualServer>();
  let cur: VirtualServer | undefined;
  for (const line of text.split('\n')) {
    const svc = /^(TCP|UDP|SCTP|FWM)\s+(\S+)\s+(\S+)(.*)$/.exec(line);
    if (svc) {
      const addr = svc[1] === 'FWM' ? undefined : splitHostPort(svc[2]!);
      if (!addr) {
        cur = undefined;
        continue;
      }
      const persistent = /\bpersistent (\d+)/.exec(svc[4] ?? '');
      cur = { protocol: svc[1] as Protocol, ip: addr.ip, port: addr.port, scheduler: svc[3]!, realServers: [] };
      if (persistent) cur.persistence = Number(persistent[1]);
      out.set(vsKey(cur.protocol, cur.ip, cur.port), cur);
      continue;
    }
    const rs = /^\s+->\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (rs && cur) {
      const addr = splitHostPort(rs[1]!);
      if (addr) cur.realServers.push({ ...addr, weight: Number(rs[3]), activeConn: Number(rs[4]), inactConn: Number(rs[5]) });
    }
  }
  return out;
}
