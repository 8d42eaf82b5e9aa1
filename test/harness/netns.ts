// Network namespaces for tests: every name carries a per-run prefix so that a run can
// sweep what an earlier, killed run left behind, and never touches anything else.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { run, type ExecOptions } from '../../src/util/exec.js';

/** All test namespaces start with this; the 5 random chars make the run's prefix. */
export const TEST_NS_PREFIX = 'bpt';

export function newRunPrefix(): string {
  return TEST_NS_PREFIX + randomBytes(3).toString('hex').slice(0, 5);
}

export async function ip(args: string[], opts: ExecOptions = {}) {
  return run('ip', args, opts);
}

/** Runs a command inside a netns and returns stdout (throws on failure). */
export async function nsRun(ns: string, cmd: string, args: string[], opts: ExecOptions = {}) {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export async function createNetns(name: string): Promise<void> {
  await ip(['netns', 'add', name]);
  await nsRun(name, 'ip', ['link', 'set', 'lo', 'up']);
}

export async function deleteNetns(name: string): Promise<void> {
  await killNetnsProcesses(name);
  await ip(['netns', 'delete', name], { allowFailure: true });
}

/** Kills every process still running inside a namespace (servers, clients, proxies). */
export async function killNetnsProcesses(name: string): Promise<void> {
  const r = await ip(['netns', 'pids', name], { allowFailure: true });
  for (const pid of r.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function listNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** Starts a long-running process inside a netns; resolves once it prints `readyLine`. */
export function spawnInNetns(ns: string, cmd: string, args: string[], readyLine: string | RegExp, timeoutMs = 15_000): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} in ${ns} not ready after ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (typeof readyLine === 'string' ? out.includes(readyLine) : readyLine.test(out)) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} in ${ns} exited (${code}) before ready: ${err}${out}`));
    });
  });
}
