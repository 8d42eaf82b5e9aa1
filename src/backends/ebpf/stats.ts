// tc_lb's and xdp_lb's per-CPU packet counters (dp_stats, abi.h STAT_*): packets by path and drops by
// reason, summed over CPUs. Read by the metrics endpoint and by `inspect --stats`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as abi from './abi.js';
import { BpfError, addon, libbpf } from './libbpf.js';

/** Counter index → its `path` label (bpfproxy_datapath_packets_total). */
export const PACKET_PATHS: ReadonlyArray<readonly [number, string]> = [
  [abi.STAT_NEW, 'new'],
  [abi.STAT_ESTABLISHED, 'established'],
  [abi.STAT_REPLY, 'reply'],
  [abi.STAT_REJECTED, 'rejected'],
  [abi.STAT_RESET, 'reset'],
  [abi.STAT_ICMP_ERROR, 'icmp_error'],
  // Passed to the stack untranslated (an IPv6 extension header tc_lb does not walk).
  [abi.STAT_PASS_V6_EXTHDR, 'ipv6_extension_header'],
  // xdp_lb's own: what the external interface's fast path sent on without tc_lb.
  [abi.STAT_XDP_NEW, 'xdp_new'],
  [abi.STAT_XDP_ESTABLISHED, 'xdp_established'],
];

/** Counter index → its `reason` label (bpfproxy_datapath_drops_total). */
export const DROP_REASONS: ReadonlyArray<readonly [number, string]> = [
  [abi.STAT_DROP_NO_BACKEND, 'no_backend'],
  [abi.STAT_DROP_NO_LOCAL_EP, 'no_local_endpoint'],
  [abi.STAT_DROP_NAT, 'nat_failed'],
  [abi.STAT_DROP_SNAT_PORTS, 'snat_ports_exhausted'],
  [abi.STAT_DROP_CT, 'conntrack_failed'],
  [abi.STAT_DROP_FIB, 'fib_rewrite_failed'],
  [abi.STAT_DROP_UNANSWERED, 'unanswered'],
  [abi.STAT_DROP_SRC_RANGE, 'source_range'],
];

export interface DatapathStats {
  packets: Record<string, number>;
  drops: Record<string, number>;
}

/** The kernel's possible CPUs (what a per-CPU map value holds one slot for), e.g. "0-1,4". */
export function possibleCpus(text = readFileSync('/sys/devices/system/cpu/possible', 'utf8')): number {
  let n = 0;
  for (const part of text.trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b! - a! + 1;
  }
  return n;
}

/** Sums dp_stats (a PERCPU_ARRAY of __u64) over every CPU. */
export function readDatapathStats(fd: number, cpus = possibleCpus()): DatapathStats {
  const key = Buffer.alloc(4);
  const read = (idx: number): number => {
    key.writeUInt32LE(idx);
    const v = addon().mapLookup(fd, key, 8 * cpus);
    let sum = 0n;
    for (let c = 0; v && c < cpus; c++) sum += v.readBigUInt64LE(c * 8);
    return Number(sum);
  };
  return {
    packets: Object.fromEntries(PACKET_PATHS.map(([i, name]) => [name, read(i)])),
    drops: Object.fromEntries(DROP_REASONS.map(([i, name]) => [name, read(i)])),
  };
}

/** Opens the pinned dp_stats of a running (or stopped) proxy; undefined when not pinned. */
export function openPinnedStats(pinRoot: string): { read(): DatapathStats; close(): void } | undefined {
  let fd: number;
  try {
    fd = libbpf.getPinned(path.join(pinRoot, 'dp_stats'));
  } catch (e) {
    if (e instanceof BpfError && e.code === 'ENOENT') return undefined;
    throw e;
  }
  // The lookup buffer is sized from this layout: a map of another shape must not be read.
  const info = libbpf.mapInfo(fd);
  if (info.keySize !== 4 || info.valueSize !== 8 || info.maxEntries !== abi.STATS_MAX) {
    libbpf.closeFd(fd);
    throw new Error(`pinned dp_stats: ${info.keySize}/${info.valueSize}/${info.maxEntries} ≠ 4/8/${abi.STATS_MAX} (another bpfproxy version?)`);
  }
  const cpus = possibleCpus();
  return { read: () => readDatapathStats(fd, cpus), close: () => libbpf.closeFd(fd) };
}

/** `inspect --stats`: one line per counter, packets first. */
export function formatDatapathStats(s: DatapathStats): string {
  const lines = ['Datapath packets (tc_lb and xdp_lb, all CPUs, since the maps were created)'];
  for (const [name, n] of Object.entries(s.packets)) lines.push(`  ${name.padEnd(22)} ${n}`);
  lines.push('Drops by reason');
  for (const [name, n] of Object.entries(s.drops)) lines.push(`  ${name.padEnd(22)} ${n}`);
  return lines.join('\n') + '\n';
}
