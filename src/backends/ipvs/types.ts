// The IPVS backend's own model: virtual servers and real servers as the kernel holds them,
// keyed the way `ipvsadm` names them. Desired and current state use the same shapes so that
// diffing is a plain comparison (see ipvs-diff.ts).
import type { IPFamily, Protocol } from '../../model/types.js';

export interface RealServer {
  ip: string;
  port: number;
  /** 1 for a live endpoint; 0 while a removed endpoint drains (graceful termination). */
  weight: number;
  /** Connection counters (current state only; 0 in the desired state). */
  activeConn: number;
  inactConn: number;
}

export interface VirtualServer {
  protocol: Protocol;
  ip: string;
  port: number;
  scheduler: string;
  /** ClientIP affinity: persistence timeout in seconds; undefined = not persistent. */
  persistence?: number;
  realServers: RealServer[];
}

/** `TCP/198.19.1.175:80`, `UDP/[2001:db8:19::b]:53`: one virtual server. */
export function vsKey(protocol: Protocol, ip: string, port: number): string {
  return `${protocol}/${hostPort(ip, port)}`;
}

/** `ip:port`, bracketing IPv6 as ipvsadm expects. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function familyOf(ip: string): IPFamily {
  return ip.includes(':') ? 6 : 4;
}

/** The form the kernel tools print an address in (IPv6 compressed, lowercase). */
export function canonicalIP(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
}

export function rsKey(rs: Pick<RealServer, 'ip' | 'port'>): string {
  return hostPort(rs.ip, rs.port);
}
