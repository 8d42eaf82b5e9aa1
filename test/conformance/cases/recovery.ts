// Recovering from change underneath: a UDP flow whose backend disappears, and kernel
// state deleted behind the proxy's back.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { ep, simpleService } from '../fixtures.js';
import { untilAnsweredBy, untilProgrammed } from '../answered.js';
import type { ConformanceCase } from '../types.js';

export const udpRepin: ConformanceCase = {
  id: 'udp-flow-repinned',
  title: 'a UDP flow (same socket) moves to another endpoint after its backend is removed',
  async run(ctx) {
    const vip = '198.19.1.205:53';
    await ctx.manifests.write('svc.json', simpleService('udpflow', '198.19.1.205', 53, [ep('hostnames-a'), ep('hostnames-b')], 'UDP'));
    await eventually(async () => expect(tally(await ctx.request(vip, { proto: 'udp', count: 6, timeoutMs: 800 })).bodies.size).toBe(2), ctx.syncDeadlineMs);
    // One flow for the whole run (600 datagrams, 2 min at most; stopped below as soon as the
    // new endpoint has answered 10 times): it answers from one pod; then that pod's endpoint
    // goes away. Under qemu the change can take most of a minute to be programmed and
    // seen by `inspect`: 200 datagrams once ran out before it had been.
    const loop = ctx.requestLoop(vip, { proto: 'udp', keepAlive: true, count: 600, intervalMs: 200, timeoutMs: 400 });
    await loop.untilMoreAnswers(3, ctx.syncDeadlineMs);
    // Whichever of a/b serves the flow, it goes away: only extra-e remains.
    await ctx.manifests.write('svc.json', simpleService('udpflow', '198.19.1.205', 53, [ep('extra-e')], 'UDP'));
    await untilProgrammed(ctx, vip, ['extra-e']);
    await loop.untilMoreAnswers(10, ctx.syncDeadlineMs);
    const results = await loop.stop();
    // Until the change, one flow means one backend (how many answers came first depends on
    // how fast the client started: slow under qemu); afterwards only extra-e answers.
    const firstE = results.findIndex((r) => r.body === 'extra-e');
    const before = results.slice(0, firstE < 0 ? results.length : firstE).filter((r) => r.ok);
    expect(before.length).toBeGreaterThan(0);
    expect(new Set(before.map((r) => r.body)).size).toBe(1);
    expect(results.slice(-10).every((r) => r.ok && r.body === 'extra-e')).toBe(true);
  },
};

export const restoredAfterTamper: ConformanceCase = {
  id: 'restored-after-tamper',
  title: 'rules/maps deleted behind the proxy\'s back are restored by the next sync',
  async run(ctx) {
    const vip = '198.19.1.206:80';
    await ctx.manifests.write('svc.json', simpleService('tamper', '198.19.1.206', 80, [ep('hostnames-a')]));
    await untilAnsweredBy(ctx, vip, 'hostnames-a');
    // The tampering must break the service, or this case proves nothing. A sync already in
    // flight (a verify pass takes 1–2 s under qemu) can repair it before the probe and
    // before its "synced" line is seen, so tamper again until the probe fails.
    let broken = false;
    for (let i = 0; i < 5 && !broken; i++) {
      await ctx.tamper();
      const [probe] = await ctx.request(vip, { timeoutMs: 500 });
      broken = probe?.ok !== true;
    }
    expect(broken, 'the tampering never broke the service').toBe(true);
    // Restored within one full sync period (5 s in the suite) plus slack; a proxy that keeps a
    // longer period where its syncs are slow (kube-proxy/ipvs in the guest: 30 s) has its own
    // longer sync deadline, which covers that period.
    await eventually(async () => expect(tally(await ctx.request(vip, { count: 3 })).bodies.get('hostnames-a')).toBe(3), Math.max(12_000, ctx.syncDeadlineMs));
  },
};
