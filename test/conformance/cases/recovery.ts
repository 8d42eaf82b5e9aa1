// Recovering from change underneath: a UDP flow whose backend disappears, and kernel
// state deleted behind the proxy's back.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { ep, simpleService } from '../fixtures.js';
import type { ConformanceCase } from '../types.js';

export const udpRepin: ConformanceCase = {
  id: 'udp-flow-repinned',
  title: 'a UDP flow (same socket) moves to another endpoint after its backend is removed',
  async run(ctx) {
    const vip = '198.19.1.205:53';
    await ctx.manifests.write('svc.json', simpleService('udpflow', '198.19.1.205', 53, [ep('hostnames-a'), ep('hostnames-b')], 'UDP'));
    await eventually(async () => expect(tally(await ctx.request(vip, { proto: 'udp', count: 6, timeoutMs: 800 })).bodies.size).toBe(2), ctx.syncDeadlineMs);
    // One flow for the whole run: it answers from one pod; remove that pod midway.
    const loop = ctx.request(vip, { proto: 'udp', keepAlive: true, count: 30, intervalMs: 200, timeoutMs: 400 });
    await new Promise((r) => setTimeout(r, 1200));
    // Whichever of a/b serves the flow, it goes away: only extra-e remains.
    await ctx.manifests.write('svc.json', simpleService('udpflow', '198.19.1.205', 53, [ep('extra-e')], 'UDP'));
    const results = await loop;
    expect(new Set(results.slice(0, 4).map((r) => r.body)).size).toBe(1); // one flow, one backend
    expect(results.slice(-10).every((r) => r.ok && r.body === 'extra-e')).toBe(true);
  },
};

export const restoredAfterTamper: ConformanceCase = {
  id: 'restored-after-tamper',
  title: 'rules/maps deleted behind the proxy\'s back are restored by the next sync',
  async run(ctx) {
    const vip = '198.19.1.206:80';
    await ctx.manifests.write('svc.json', simpleService('tamper', '198.19.1.206', 80, [ep('hostnames-a')]));
    await eventually(async () => expect(tally(await ctx.request(vip)).bodies.has('hostnames-a')).toBe(true), ctx.syncDeadlineMs);
    const syncs = ctx.proxy.syncs;
    await ctx.tamper();
    // The tampering must break the service, or this case proves nothing — unless a sync
    // already repaired it in between.
    const [broken] = await ctx.request(vip, { timeoutMs: 500 });
    if (broken?.ok) expect(ctx.proxy.syncs).toBeGreaterThan(syncs);
    // Restored within one full sync period (5 s in the suite) plus slack.
    await eventually(async () => expect(tally(await ctx.request(vip, { count: 3 })).bodies.get('hostnames-a')).toBe(3), 12_000);
  },
};
