// ClientIP session affinity: stickiness, its timeout, switching it on and off.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { endpointSlice, service } from '../../harness/manifests.js';
import { ep } from '../fixtures.js';
import type { ConformanceCase } from '../types.js';

const PODS3 = ['hostnames-a', 'hostnames-b', 'hostnames-c'];

function sticky(vip: string, timeoutSeconds?: number): object[] {
  return [
    service({ name: 'sticky', clusterIP: vip, ports: [{ port: 80, targetPort: 9376 }], ...(timeoutSeconds ? { sessionAffinity: { timeoutSeconds } } : {}) }),
    endpointSlice('sticky', [{ port: 9376 }], PODS3.map((p) => ep(p))),
  ];
}

export const affinityTimeout: ConformanceCase = {
  id: 'clientip-affinity-timeout',
  title: 'ClientIP affinity: one client sticks to one pod, and may move once the timeout passes',
  async run(ctx) {
    const vip = '198.19.1.194:80';
    await ctx.manifests.write('svc.json', sticky('198.19.1.194', 1));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request(vip, { count: 20 }));
      expect(bodies.size).toBe(1);
      expect([...bodies.values()][0]).toBe(20);
    }, ctx.syncDeadlineMs);
    // After >1 s idle the choice is made afresh; over 8 idle gaps a second pod must show up
    // (chance of never moving with 3 pods: (1/3)^8).
    const seen = new Set<string>();
    for (let i = 0; i < 8 && seen.size < 2; i++) {
      await new Promise((r) => setTimeout(r, 2200));
      const [r] = await ctx.request(vip);
      if (r?.ok) seen.add(r.body!);
    }
    expect(seen.size).toBe(2);
  },
};

export const affinitySwitch: ConformanceCase = {
  id: 'clientip-affinity-switch',
  title: 'switching ClientIP affinity on and off takes effect',
  async run(ctx) {
    const vip = '198.19.1.195:80';
    await ctx.manifests.write('svc.json', sticky('198.19.1.195'));
    await eventually(async () => expect(tally(await ctx.request(vip, { count: 20 })).bodies.size).toBeGreaterThan(1), ctx.syncDeadlineMs);
    await ctx.manifests.write('svc.json', sticky('198.19.1.195', 300));
    await eventually(async () => expect(tally(await ctx.request(vip, { count: 20 })).bodies.size).toBe(1), ctx.syncDeadlineMs);
    await ctx.manifests.write('svc.json', sticky('198.19.1.195'));
    await eventually(async () => expect(tally(await ctx.request(vip, { count: 20 })).bodies.size).toBeGreaterThan(1), ctx.syncDeadlineMs);
  },
};
