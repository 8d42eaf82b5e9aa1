// Machine-wide kernel CPU time from /proc/stat: system + irq + softirq ticks. The proxies'
// work happens there (netfilter, tc programs, conntrack run in softirq and in the syscalls of
// the client and server), but so does everything else on the machine: the figure is the
// whole machine's, taken while wrk runs, and other load on a shared machine adds to it.
import { readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

export interface CpuTicks {
  system: number;
  irq: number;
  softirq: number;
}

export function readCpuTicks(text = readFileSync('/proc/stat', 'utf8')): CpuTicks {
  const f = text.split('\n')[0]!.trim().split(/\s+/);
  if (f[0] !== 'cpu') throw new Error(`/proc/stat: first line is not the cpu total: ${f.join(' ')}`);
  // cpu user nice system idle iowait irq softirq ...
  return { system: Number(f[3]), irq: Number(f[6]), softirq: Number(f[7]) };
}

/** Kernel milliseconds (system + irq + softirq) between two readings. */
export function kernelMs(a: CpuTicks, b: CpuTicks): { systemMs: number; softirqMs: number } {
  return { systemMs: (b.system - a.system) * TICK_MS, softirqMs: (b.softirq - a.softirq + b.irq - a.irq) * TICK_MS };
}
