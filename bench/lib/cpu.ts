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

/**
 * CPU milliseconds (user + system, its threads and reaped children: iptables-restore, nft) one
 * process has used so far, from /proc/<pid>/stat; 0 once it is gone.
 */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // After "pid (comm) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
}
