// What must not break: established connections under churn, a proxy restart, and
// a cleanup that leaves nothing behind.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { argValue, snapshotNode } from '../../harness/snapshot.js';
import { ep, simpleService } from '../fixtures.js';
import { untilAnsweredBy, untilProgrammed } from '../answered.js';
import type { ConformanceCase } from '../types.js';

export const establishedSurvivesChurn: ConformanceCase = {
  id: 'established-survives-churn',
  title: 'an established TCP connection keeps its backend while other endpoints come and go',
  async run(ctx) {
    const vip = '198.19.1.196:80';
    const base = [ep('hostnames-a'), ep('hostnames-b')];
    await ctx.manifests.write('svc.json', simpleService('steady', '198.19.1.196', 80, base));
    await eventually(async () => expect(tally(await ctx.request(vip, { count: 4 })).errors.size).toBe(0), ctx.syncDeadlineMs);
    // One keep-alive connection for the whole case (600 requests at most; stopped below).
    const loop = ctx.requestLoop(vip, { keepAlive: true, count: 600, intervalMs: 100 });
    await loop.untilMoreAnswers(3, ctx.syncDeadlineMs);
    await ctx.manifests.write('svc.json', simpleService('steady', '198.19.1.196', 80, [...base, ep('extra-e'), ep('hostnames-c')]));
    await untilProgrammed(ctx, vip, ['hostnames-a', 'hostnames-b', 'extra-e', 'hostnames-c']);
    await ctx.manifests.write('svc.json', simpleService('steady', '198.19.1.196', 80, base));
    await untilProgrammed(ctx, vip, ['hostnames-a', 'hostnames-b']);
    // Both changes are in the kernel: the connection must go on answering after them.
    await loop.untilMoreAnswers(3, ctx.syncDeadlineMs);
    const results = await loop.stop();
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(results.map((r) => r.body)).size).toBe(1);
    expect(results[0]?.sockets).toBe(1);
  },
};

export const restartNoLoss: ConformanceCase = {
  id: 'restart-no-loss',
  title: 'restarting the proxy under a request loop loses no request',
  async run(ctx) {
    const vip = '198.19.1.197:80';
    await ctx.manifests.write('svc.json', simpleService('restart', '198.19.1.197', 80, [ep('hostnames-a'), ep('hostnames-b'), ep('remote-f')]));
    await eventually(async () => expect(tally(await ctx.request(vip, { count: 6 })).bodies.size).toBeGreaterThan(1), ctx.syncDeadlineMs);
    // New connections every 50 ms (3000 at most; stopped below) before, during and after the restart.
    const loop = ctx.requestLoop(vip, { count: 3000, intervalMs: 50 });
    await loop.untilMoreAnswers(5, ctx.syncDeadlineMs);
    await ctx.proxy.stop();
    // No proxy runs now: the programmed data plane alone must answer.
    await loop.untilMoreAnswers(5, ctx.syncDeadlineMs);
    await ctx.proxy.start(); // returns after the restarted proxy's first sync
    await loop.untilMoreAnswers(5, ctx.syncDeadlineMs);
    const results = await loop.stop();
    expect(results.filter((r) => !r.ok)).toEqual([]);
  },
};

export const cleanupLeavesNothing: ConformanceCase = {
  id: 'cleanup-leaves-nothing',
  title: '--cleanup leaves nothing: rules, sets, links, tc/XDP programs and pins as before the proxy ran',
  async run(ctx) {
    const node = ctx.topo.node('node-a');
    const args = ctx.proxy.opts.extraArgs;
    await ctx.manifests.write('svc.json', simpleService('gone', '198.19.1.198', 80, [ep('hostnames-a')]));
    await untilAnsweredBy(ctx, '198.19.1.198:80', 'hostnames-a');
    await ctx.proxy.stop();
    await ctx.proxy.cleanup();
    const after = await snapshotNode(node.ns, argValue(args, '--bpf-pin-root'), argValue(args, '--cgroup-path'));
    expect(after).toEqual(ctx.baseline.get('node-a'));
    await ctx.proxy.start();
  },
};
