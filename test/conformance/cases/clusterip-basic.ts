// The foundation cases: the seed, readiness, endpoint churn, no endpoints, UDP.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { ep, simpleService } from '../fixtures.js';
import { untilAnsweredBy } from '../answered.js';
import type { ConformanceCase } from '../types.js';

const SEED = ['hostnames-a', 'hostnames-b', 'hostnames-c'];

export const seed: ConformanceCase = {
  id: 'clusterip-seed',
  title: 'seed: hostnames VIP:80 → three ready pods all answer over 30 requests',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('hostnames', '198.19.1.175', 80, SEED.map((p) => ep(p))));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request('198.19.1.175:80', { count: 30 }));
      expect([...bodies.keys()].sort()).toEqual(SEED);
      expect([...bodies.values()].reduce((a, b) => a + b, 0)).toBe(30);
    }, ctx.syncDeadlineMs);
  },
};

export const onlyReady: ConformanceCase = {
  id: 'only-ready',
  title: 'an unready pod never answers',
  async run(ctx) {
    const eps = [...SEED.map((p) => ep(p)), ep('hostnames-d', { ready: false, serving: false })];
    await ctx.manifests.write('svc.json', simpleService('hostnames', '198.19.1.176', 80, eps));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request('198.19.1.176:80', { count: 15 }));
      expect([...bodies.keys()].sort()).toEqual(SEED);
    }, ctx.syncDeadlineMs);
    const { bodies, errors } = tally(await ctx.request('198.19.1.176:80', { count: 30 }));
    expect(bodies.has('hostnames-d')).toBe(false);
    expect(errors.size).toBe(0);
  },
};

export const endpointChurn: ConformanceCase = {
  id: 'endpoint-add-remove',
  title: 'an endpoint added or removed takes effect within one sync',
  async run(ctx) {
    const vip = '198.19.1.177:80';
    await ctx.manifests.write('svc.json', simpleService('churn', '198.19.1.177', 80, [ep('hostnames-a'), ep('hostnames-b')]));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request(vip, { count: 12 }));
      expect([...bodies.keys()].sort()).toEqual(['hostnames-a', 'hostnames-b']);
    }, ctx.syncDeadlineMs);
    await ctx.manifests.write('svc.json', simpleService('churn', '198.19.1.177', 80, [ep('hostnames-a'), ep('hostnames-b'), ep('extra-e')]));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request(vip, { count: 12 }));
      expect(bodies.has('extra-e')).toBe(true);
    }, ctx.syncDeadlineMs);
    await ctx.manifests.write('svc.json', simpleService('churn', '198.19.1.177', 80, [ep('hostnames-b'), ep('extra-e')]));
    await eventually(async () => {
      const { bodies, errors } = tally(await ctx.request(vip, { count: 20 }));
      expect([...bodies.keys()].sort()).toEqual(['extra-e', 'hostnames-b']);
      expect(errors.size).toBe(0);
    }, ctx.syncDeadlineMs);
  },
};

export const noEndpoints: ConformanceCase = {
  id: 'no-endpoints-refused',
  title: 'scaled to zero endpoints → connection refused at once (not a timeout)',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('empty', '198.19.1.178', 80, [ep('hostnames-a')]));
    await untilAnsweredBy(ctx, '198.19.1.178:80', 'hostnames-a');
    await ctx.manifests.write('svc.json', simpleService('empty', '198.19.1.178', 80, []));
    await eventually(async () => {
      const [r] = await ctx.request('198.19.1.178:80', { timeoutMs: 3000 });
      expect(r?.error).toBe('refused');
    }, ctx.syncDeadlineMs);
    // ECONNREFUSED needs a RST (or ICMP unreachable) from the proxy: a dropped SYN ends in 'timeout'.
    const results = await ctx.request('198.19.1.178:80', { count: 5, timeoutMs: 3000 });
    expect(results.map((r) => r.error)).toEqual(Array(5).fill('refused'));
  },
};

export const udpClusterIP: ConformanceCase = {
  id: 'clusterip-udp',
  title: 'UDP ClusterIP: datagrams reach all ready pods and replies come back from the VIP',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('udp', '198.19.1.179', 53, SEED.map((p) => ep(p, {})), 'UDP'));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request('198.19.1.179:53', { proto: 'udp', count: 30, timeoutMs: 1000 }));
      expect([...bodies.keys()].sort()).toEqual(SEED);
    }, ctx.syncDeadlineMs + 5000);
  },
};
