// Address-in-prefix tests for --nodeport-addresses and the ruleset tracer (node's BlockList
// does the bit arithmetic for both families).
import { BlockList } from 'node:net';
import { ipFamily } from '../model/validate.js';

const cache = new Map<string, BlockList>();

/** Whether `ip` is inside `cidr` (`a.b.c.d/n`, `v6/n`, or a bare address = host route). */
export function cidrContains(cidr: string, ip: string): boolean {
  const fam = ipFamily(ip);
  const [base, bits] = cidr.split('/');
  const baseFam = base === undefined ? undefined : ipFamily(base);
  if (fam === undefined || baseFam !== fam) return false;
  let list = cache.get(cidr);
  if (!list) {
    list = new BlockList();
    const prefix = bits === undefined ? (fam === 4 ? 32 : 128) : Number(bits);
    list.addSubnet(base!, prefix, fam === 4 ? 'ipv4' : 'ipv6');
    cache.set(cidr, list);
  }
  return list.check(ip, fam === 4 ? 'ipv4' : 'ipv6');
}

/** Loopback addresses are local even when the caller does not list them. */
export function isLoopback(ip: string): boolean {
  return cidrContains('127.0.0.0/8', ip) || ip === '::1';
}
