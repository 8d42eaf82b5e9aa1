// Runs the client driver inside a namespace and returns its results.
import { run } from '../../src/util/exec.js';
import { nsRun } from './netns.js';
import { CLIENT_SCRIPT } from './topology.js';

export interface RequestResult {
  ok: boolean;
  body?: string;
  error?: string;
  ms: number;
  /** With keepAlive: how many TCP connections the run needed (1 = never broken). */
  sockets?: number;
}

export interface RequestOptions {
  proto?: 'tcp' | 'udp';
  count?: number;
  timeoutMs?: number;
  intervalMs?: number;
  path?: string;
  bytes?: number;
  keepAlive?: boolean;
}

/** Requests from namespace `ns`; with `cgroup`, the client process first joins that cgroup. */
export async function requests(ns: string, target: string, o: RequestOptions & { cgroup?: string } = {}): Promise<RequestResult[]> {
  const args = [CLIENT_SCRIPT, '--target', target, '--proto', o.proto ?? 'tcp', '--count', String(o.count ?? 1), '--timeout', String(o.timeoutMs ?? 2000)];
  if (o.intervalMs) args.push('--interval', String(o.intervalMs));
  if (o.path) args.push('--path', o.path);
  if (o.bytes) args.push('--bytes', String(o.bytes));
  if (o.keepAlive) args.push('--keep-alive');
  const timeoutMs = 10_000 + (o.count ?? 1) * ((o.timeoutMs ?? 2000) + (o.intervalMs ?? 0));
  const r = o.cgroup
    ? await run('sh', ['-c', `echo $$ > "$0/cgroup.procs" && ns="$1" && shift && exec ip netns exec "$ns" "$@"`, o.cgroup, ns, process.execPath, ...args], { timeoutMs })
    : await nsRun(ns, process.execPath, args, { timeoutMs });
  return JSON.parse(r.stdout) as RequestResult[];
}

/** Counts answers by body (hostname) and failures by error kind. */
export function tally(results: RequestResult[]): { bodies: Map<string, number>; errors: Map<string, number> } {
  const bodies = new Map<string, number>();
  const errors = new Map<string, number>();
  for (const r of results) {
    if (r.ok) bodies.set(r.body ?? '', (bodies.get(r.body ?? '') ?? 0) + 1);
    else errors.set(r.error ?? '?', (errors.get(r.error ?? '?') ?? 0) + 1);
  }
  return { bodies, errors };
}

/** Retries `fn` until it stops throwing or the deadline passes (bounded; then rethrows). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs: number, stepMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, stepMs));
    }
  }
}
