// A cgroup v2 directory of the test's own, for the eBPF socket LB of clients in a node
// namespace (cgroup hooks apply to the cgroup's processes whatever their netns).
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { run, type ExecOptions } from '../../src/util/exec.js';
import { nsRun } from './netns.js';

/** Where cgroup v2 is mounted (hybrid hosts: /sys/fs/cgroup/unified), or undefined. */
export function cgroupV2Root(): string | undefined {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  return mounts.map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
}

export function createCgroup(name: string): string {
  const root = cgroupV2Root();
  if (!root) throw new Error('no cgroup v2 mount: the socket LB cannot be tested');
  const path = `${root}/${name}`;
  if (!existsSync(path)) mkdirSync(path);
  return path;
}

/** Removes the cgroup once its processes are gone (bounded wait). */
export async function removeCgroup(path: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(path);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Runs `cmd` in network namespace `ns` from inside `cgroup`, joined before it starts (so every
 * socket it makes belongs there, where a socket LB may be attached); without one, as nsRun.
 */
export function nsRunInCgroup(cgroup: string | undefined, ns: string, cmd: string, args: readonly string[], opts: ExecOptions = {}) {
  if (!cgroup) return nsRun(ns, cmd, [...args], opts);
  return run('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && ns="$1" && shift && exec ip netns exec "$ns" "$@"', cgroup, ns, cmd, ...args], opts);
}
