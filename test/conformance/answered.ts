// The cases' waits: a change has taken effect once a pod answers at a target, or once
// node-a's kernel holds exactly the expected endpoints (read back with `bpfproxy inspect`).
import { expect } from 'vitest';
import { eventually, tally } from '../harness/client.js';
import { ep } from './fixtures.js';
import type { ConformanceContext } from './types.js';

/** Waits up to one sync deadline until a request to `target` (from the client pod, or `from`) is answered by `pod`. */
export async function untilAnsweredBy(ctx: ConformanceContext, target: string, pod: string, from?: string): Promise<void> {
  await eventually(async () => expect(tally(await ctx.request(target, { from })).bodies.has(pod)).toBe(true), ctx.syncDeadlineMs);
}

/** The endpoint addresses `inspect` lists under frontend `ip:port` (draining IPVS servers left out). */
export function programmedEndpoints(inspect: string, frontend: string): string[] | undefined {
  const lines = inspect.split('\n');
  const at = lines.findIndex((l) => l.split(/\s+/)[1] === frontend);
  if (at < 0) return undefined;
  const out: string[] = [];
  for (const l of lines.slice(at + 1)) {
    const m = /^\s+-> (\S+)/.exec(l);
    if (!m) break;
    if (!l.includes('(draining')) out.push(m[1]!.replace(/:\d+$/, ''));
  }
  return out.sort();
}

/** Waits up to one sync deadline until node-a's kernel serves `frontend` with exactly these pods. */
export async function untilProgrammed(ctx: ConformanceContext, frontend: string, pods: string[]): Promise<void> {
  const want = pods.map((p) => ep(p).ip).sort();
  await eventually(async () => expect(programmedEndpoints(await ctx.proxy.inspect(), frontend)).toEqual(want), ctx.syncDeadlineMs);
}
