// --nodeport-addresses: which of the node's own addresses NodePorts answer on. Read from
// the interfaces of the namespace the proxy runs in, at every sync (addresses come and go).
import { networkInterfaces } from 'node:os';
import type { IPFamily } from '../../model/types.js';
import { cidrContains } from '../../util/cidr.js';

export function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address.replace(/%.*$/, ''));
  return out;
}

/** Addresses of `family` inside any of `cidrs`; undefined when no CIDR of that family is given (= all local addresses). */
export function nodePortIPs(cidrs: readonly string[], family: IPFamily, addresses: readonly string[] = localAddresses()): string[] | undefined {
  const mine = cidrs.filter((c) => (family === 4 ? !c.includes(':') : c.includes(':')));
  if (mine.length === 0) return undefined;
  return addresses.filter((ip) => mine.some((c) => cidrContains(c, ip))).sort();
}
