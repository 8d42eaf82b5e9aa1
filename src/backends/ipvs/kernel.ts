// Everything the IPVS backend runs: ipvsadm, ip, ipset, modprobe and the IPVS sysctls.
// Reading returns the parsed state (plan.ts's KernelState); writing reports failures as
// errors that say which tool failed and what it printed. All in the caller's netns.
import { readFile, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { ExecError, type ToolWrite, run, runWrite } from '../../util/exec.js';
import { type SetContents, type SetEntry, parseIpsetSave, renderIpsetRestore } from './ipsets.js';
import { parseIpvsList } from './ipvsadm.js';
import type { KernelState } from './plan.js';
import { canonicalIP, familyOf } from './types.js';

export const DUMMY = 'kube-ipvs0';
const TIMEOUT = { timeoutMs: 60_000 };

/** The IPVS sysctls (per netns) masquerade mode needs, and why. */
export const IPVS_SYSCTLS: Record<string, string> = {
  // Let IPVS keep conntrack entries so iptables MASQUERADE (hairpin, --cluster-cidr) applies.
  'net/ipv4/vs/conntrack': '1',
  // A packet for a deleted real server drops its stale connection instead of black-holing.
  'net/ipv4/vs/expire_nodest_conn': '1',
  // Persistence (ClientIP affinity) templates of a weight-0 (draining) server expire.
  'net/ipv4/vs/expire_quiescent_template': '1',
};

export class ToolError extends Error {}

function toolError(what: string, e: unknown): ToolError {
  const detail = e instanceof ExecError ? (e.stderr.trim() || e.stdout.trim() || e.message).split('\n').slice(0, 3).join('; ') : (e as Error).message;
  return new ToolError(`${what}: ${detail}`);
}

/** ip_vs is loaded (its /proc entry exists) — saves a modprobe per sync. */
export async function ipvsLoaded(): Promise<boolean> {
  return readFile('/proc/net/ip_vs', 'utf8').then(
    () => true,
    () => false,
  );
}

export async function modprobe(module: string): Promise<void> {
  try {
    await run('modprobe', [module], TIMEOUT);
  } catch (e) {
    // Built into the kernel: modprobe fails on some systems, but the code is there.
    const builtin = await readFile(`/lib/modules/${release()}/modules.builtin`, 'utf8').catch(() => '');
    if (new RegExp(`/${module}\\.ko(\\.[a-z]+)?$`, 'm').test(builtin)) return;
    throw toolError(`modprobe ${module} failed`, e);
  }
}

export async function setSysctls(values: Record<string, string> = IPVS_SYSCTLS): Promise<void> {
  for (const [key, value] of Object.entries(values)) {
    const path = `/proc/sys/${key}`;
    const now = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (now === value) continue;
    try {
      await writeFile(path, value);
    } catch (e) {
      throw new ToolError(`cannot set ${key.replaceAll('/', '.')}=${value}: ${(e as Error).message}`);
    }
  }
}

export async function readVirtualServers() {
  try {
    return parseIpvsList((await run('ipvsadm', ['-Ln', '--exact'], TIMEOUT)).stdout);
  } catch (e) {
    throw toolError('ipvsadm -Ln failed', e);
  }
}

/** `ipvsadm -R` with only the given lines (undefined: nothing to run). */
export function ipvsWrite(lines: string[]): ToolWrite | undefined {
  return lines.length === 0 ? undefined : { cmd: 'ipvsadm', args: ['-R'], input: lines.join('\n') + '\n' };
}

/** Runs `ipvsadm -R`. It exits 0 even when a line failed, so stderr counts too. */
export async function applyIpvs(lines: string[]): Promise<void> {
  const w = ipvsWrite(lines);
  if (!w) return;
  let r;
  try {
    r = await runWrite(w, { allowFailure: true, ...TIMEOUT });
  } catch (e) {
    throw toolError('ipvsadm -R failed', e);
  }
  if (r.code !== 0 || r.stderr.trim() !== '') {
    throw new ToolError(`ipvsadm -R failed (${r.stderr.trim().split('\n').join('; ') || `exit ${r.code}`}) applying: ${lines.join(' | ')}`);
  }
}

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  addr_info?: Array<{ family: string; local: string; scope?: string }>;
}

export interface Addresses {
  dummyExists: boolean;
  dummyUp: boolean;
  bound: Set<string>;
  /** Every other interface's addresses → interface. */
  others: Map<string, string>;
}

export async function readAddresses(): Promise<Addresses> {
  let list: IpAddrJson[];
  try {
    list = JSON.parse((await run('ip', ['-j', 'addr', 'show'], TIMEOUT)).stdout || '[]') as IpAddrJson[];
  } catch (e) {
    throw toolError('ip addr show failed', e);
  }
  const out: Addresses = { dummyExists: false, dummyUp: false, bound: new Set(), others: new Map() };
  for (const link of list) {
    if (link.ifname === DUMMY) {
      out.dummyExists = true;
      out.dummyUp = link.flags?.includes('UP') ?? false;
    }
    for (const a of link.addr_info ?? []) {
      const ip = canonicalIP(a.local);
      if (link.ifname === DUMMY) {
        // The kernel gives an up kube-ipvs0 an IPv6 link-local address of its own: not ours to delete.
        if (a.scope !== 'link') out.bound.add(ip);
      } else {
        if (!out.others.has(ip)) out.others.set(ip, link.ifname);
      }
    }
  }
  return out;
}

/** kube-ipvs0: a dummy device whose only job is to make the VIPs local addresses. */
export function dummyWrite(exists: boolean): ToolWrite {
  // Up, so IPv6 addresses on it are usable (IPv4 would work on a down device too); with no
  // IPv6 link-local address of its own (addrgenmode none), so its addresses are the
  // services' only, as on kube-proxy's (which it leaves down).
  const cmds = [...(exists ? [] : [`link add ${DUMMY} type dummy`, `link set ${DUMMY} addrgenmode none`]), `link set ${DUMMY} up`];
  return { cmd: 'ip', args: ['-batch', '-'], input: cmds.join('\n') + '\n' };
}

export async function ensureDummy(exists: boolean): Promise<void> {
  const w = dummyWrite(exists);
  try {
    await runWrite(w, TIMEOUT);
  } catch (e) {
    throw toolError(`cannot create ${DUMMY}`, e);
  }
}

export async function deleteDummy(): Promise<void> {
  await run('ip', ['link', 'del', DUMMY], { allowFailure: true, ...TIMEOUT });
}

function addrArgs(op: 'add' | 'del', ip: string): string[] {
  return familyOf(ip) === 4 ? ['addr', op, `${ip}/32`, 'dev', DUMMY] : ['addr', op, `${ip}/128`, 'dev', DUMMY, ...(op === 'add' ? ['nodad'] : [])];
}

/** What `ip addr add|del` may answer that still leaves the address as wanted. */
const HARMLESS = { add: /File exists|already assigned/i, del: /Cannot assign requested address|not found/i };

async function addrOne(op: 'add' | 'del', ip: string): Promise<void> {
  const r = await run('ip', addrArgs(op, ip), { allowFailure: true, ...TIMEOUT });
  if (r.code !== 0 && !HARMLESS[op].test(r.stderr)) {
    throw new ToolError(op === 'add' ? `cannot bind ${ip} to ${DUMMY}: ${r.stderr.trim()}` : `cannot unbind ${ip} from ${DUMMY}: ${r.stderr.trim()}`);
  }
}

/** Binds (or unbinds) addresses on kube-ipvs0 in one `ip -batch` run (undefined: none). */
export function addressesWrite(op: 'add' | 'del', ips: string[]): ToolWrite | undefined {
  return ips.length === 0 ? undefined : { cmd: 'ip', args: ['-force', '-batch', '-'], input: ips.map((ip) => addrArgs(op, ip).join(' ')).join('\n') + '\n' };
}

/**
 * Runs addressesWrite. Only when that run reports an error is each address retried on its
 * own, so the failure names its address and the others are unaffected. Returns address →
 * error for those that failed.
 */
export async function changeAddresses(op: 'add' | 'del', ips: string[]): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  const w = addressesWrite(op, ips);
  if (!w) return failed;
  const r = await runWrite(w, { allowFailure: true, ...TIMEOUT });
  const errors = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^Command failed/.test(l));
  if (r.code === 0 || errors.every((l) => HARMLESS[op].test(l))) return failed;
  for (const ip of ips) await addrOne(op, ip).catch((e: Error) => failed.set(ip, e.message));
  return failed;
}

export async function readSets(): Promise<SetContents> {
  // `ipset save` with no sets prints nothing; with no ipset module it fails (treated as empty).
  const r = await run('ipset', ['save'], { allowFailure: true, ...TIMEOUT });
  return parseIpsetSave(r.code === 0 ? r.stdout : '');
}

export function setsWrite(opts: { create?: string[]; add?: SetEntry[]; del?: SetEntry[] }): ToolWrite | undefined {
  const text = renderIpsetRestore(opts);
  return text ? { cmd: 'ipset', args: ['restore', '-exist'], input: text } : undefined;
}

export async function restoreSets(opts: { create?: string[]; add?: SetEntry[]; del?: SetEntry[] }): Promise<void> {
  const w = setsWrite(opts);
  if (!w) return;
  try {
    await runWrite(w, TIMEOUT);
  } catch (e) {
    throw toolError('ipset restore failed', e);
  }
}

export async function destroySets(present: Iterable<string>): Promise<void> {
  for (const name of present) await run('ipset', ['destroy', name], { allowFailure: true, ...TIMEOUT });
}

/** The three reads, run at once (each is a process start; under qemu TCG each costs ~0.5 s). */
export async function readKernelState(): Promise<KernelState & { addresses: Addresses }> {
  const [virtualServers, addresses, sets] = await Promise.all([readVirtualServers(), readAddresses(), readSets()]);
  return { virtualServers, bound: addresses.bound, otherAddresses: addresses.others, sets, addresses };
}

/** iptables-save of every table of one family (one process instead of one per table). */
export async function iptablesSave(family: 4 | 6): Promise<string> {
  const r = await run(family === 4 ? 'iptables-save' : 'ip6tables-save', [], { allowFailure: true, ...TIMEOUT });
  return r.code === 0 ? r.stdout : '';
}
