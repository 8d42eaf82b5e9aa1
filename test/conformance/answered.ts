// The cases' most common wait: a change has taken effect once `pod` answers at `target`.
import { expect } from 'vitest';
import { eventually, tally } from '../harness/client.js';
import type { ConformanceContext } from './types.js';

/** Waits up to one sync deadline until a request to `target` (from the client pod, or `from`) is answered by `pod`. */
export async function untilAnsweredBy(ctx: ConformanceContext, target: string, pod: string, from?: string): Promise<void> {
  await eventually(async () => expect(tally(await ctx.request(target, { from })).bodies.has(pod)).toBe(true), ctx.syncDeadlineMs);
}
