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

/**
 * The network a CIDR names, as the kernel tools print it back: host bits cleared, IPv6
 * compressed (198.19.200.5/24 → 198.19.200.0/24). Hand-written: no dependency of ours
 * does prefix arithmetic, and this is a few lines.
 */
export function canonicalCIDR(cidr: string): string {
  const [base, bitsText] = cidr.split('/');
  const fam = ipFamily(base!);
  const width = fam === 4 ? 32 : 128;
  const bits = bitsText === undefined ? width : Number(bitsText);
  const value = fam === 4 ? base!.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n) : ipv6Value(base!);
  const network = value & (((1n << BigInt(bits)) - 1n) << BigInt(width - bits));
  return `${fam === 4 ? ipv4Text(network) : ipv6Text(network)}/${bits}`;
}

function ipv6Value(ip: string): bigint {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function ipv4Text(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
}

function ipv6Text(v: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => ((v >> s) & 0xffffn).toString(16));
  // The URL parser compresses the longest zero run, as the kernel tools print it.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
