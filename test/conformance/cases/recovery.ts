// Recovering from change underneath: a UDP flow whose backend disappears, and kernel
// state deleted behind the proxy's back.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { NODE, ep, simpleService } from '../fixtures.js';
import { untilAnsweredBy, untilProgrammed } from '../answered.js';
import type { RequestResult } from '../../harness/client.js';
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

/** Where a connected flow left its removed pod: its first error or answer from another pod. */
function leftAt(results: readonly RequestResult[], gone: readonly string[]): number {
  return results.findIndex((r) => !r.ok ? r.error !== 'timeout' : !gone.includes(r.body ?? ''));
}

export const connectedUdpBackendRemoved: ConformanceCase = {
  id: 'udp-connected-backend-removed',
  title: "a connected UDP client gets an error or a new backend within one sync after its backend's pod is removed",
  async run(ctx) {
    const vip = '198.19.1.207:53';
    const first = ['hostnames-a', 'hostnames-b'];
    await ctx.manifests.write('svc.json', simpleService('udpconn', '198.19.1.207', 53, first.map((p) => ep(p)), 'UDP'));
    await eventually(async () => expect(tally(await ctx.request(vip, { proto: 'udp', count: 6, timeoutMs: 800 })).bodies.size).toBe(2), ctx.syncDeadlineMs);
    // Two clients that connect() once and send() on that socket, reconnecting only after an
    // error, as a resolver does: one in the client pod (its packets cross the node's rules or
    // tc), one in the node's own network namespace (host network: the eBPF socket LB connects
    // it to a pod at connect(), so no packet ever carries the VIP). Bounds, not timing: at
    // most 600 datagrams each, stopped as soon as the new pod has answered enough.
    const clients = [{ name: 'pod client' }, { name: 'node client', from: NODE }];
    const loops = clients.map((c) => ctx.requestLoop(vip, { proto: 'udp', keepAlive: true, reconnect: true, count: 600, intervalMs: 100, timeoutMs: 400, from: c.from }));
    for (const l of loops) await l.untilMoreAnswers(3, ctx.syncDeadlineMs);
    // Both pods go; the flows must leave them, whichever each was pinned to.
    await ctx.manifests.write('svc.json', simpleService('udpconn', '198.19.1.207', 53, [ep('extra-e')], 'UDP'));
    await eventually(async () => {
      for (const [i, l] of loops.entries()) expect(leftAt(l.seen(), first), `${clients[i]!.name} still talks to its removed pod`).toBeGreaterThanOrEqual(0);
    }, ctx.syncDeadlineMs);
    await untilProgrammed(ctx, vip, ['extra-e']);
    for (const l of loops) await l.untilMoreAnswers(5, ctx.syncDeadlineMs);
    for (const [i, l] of loops.entries()) {
      const results = await l.stop();
      const name = clients[i]!.name;
      const at = leftAt(results, first);
      const before = results.slice(0, at).filter((r) => r.ok);
      // One connected socket, one pod, until the change; then never a removed pod again, and
      // the new one answers (on the same socket, or on the one connected after the error).
      expect(new Set(before.map((r) => r.body)).size, `${name}: answered by ${[...new Set(before.map((r) => r.body))]} before the change`).toBe(1);
      const after = results.slice(at);
      expect(after.filter((r) => r.ok && first.includes(r.body ?? '')), `${name}: a removed pod answered after the flow left it`).toEqual([]);
      expect(after.filter((r) => r.ok && r.body === 'extra-e').length, `${name}: answers from the new pod`).toBeGreaterThanOrEqual(5);
      ctx.log.push(`${name}: left its pod with ${results[at]!.ok ? `an answer from ${results[at]!.body}` : `error ${results[at]!.error}`}`);
    }
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
