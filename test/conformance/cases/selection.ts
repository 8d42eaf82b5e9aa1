// Which endpoints a client may reach: terminating fallback, internalTrafficPolicy,
// topology hints (trafficDistribution), services meant for another proxy.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { type EndpointSpec, endpointSlice, service } from '../../harness/manifests.js';
import { CLIENT_B, ep, simpleService } from '../fixtures.js';
import { untilAnsweredBy } from '../answered.js';
import type { ConformanceCase } from '../types.js';

export const terminatingFallback: ConformanceCase = {
  id: 'terminating-fallback',
  title: 'serving terminating endpoints are used only while no endpoint is ready',
  async run(ctx) {
    const terminating = { ready: false, serving: true, terminating: true };
    await ctx.manifests.write('svc.json', simpleService('drain', '198.19.1.190', 80, [ep('hostnames-a', terminating), ep('hostnames-b', terminating)]));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request('198.19.1.190:80', { count: 12 }));
      expect([...bodies.keys()].sort()).toEqual(['hostnames-a', 'hostnames-b']);
    }, ctx.syncDeadlineMs);
    await ctx.manifests.write('svc.json', simpleService('drain', '198.19.1.190', 80, [ep('hostnames-a', terminating), ep('hostnames-b', terminating), ep('hostnames-c')]));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request('198.19.1.190:80', { count: 12 }));
      expect([...bodies.keys()]).toEqual(['hostnames-c']);
    }, ctx.syncDeadlineMs);
  },
};

export const internalLocal: ConformanceCase = {
  id: 'internal-traffic-policy-local',
  title: 'internalTrafficPolicy Local: each node sends ClusterIP traffic only to its own endpoints',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      service({ name: 'local', clusterIP: '198.19.1.191', ports: [{ port: 80, targetPort: 9376 }], internalTrafficPolicy: 'Local' }),
      endpointSlice('local', [{ port: 9376 }], [ep('hostnames-a'), ep('remote-f')]),
    ]);
    await eventually(async () => {
      expect([...tally(await ctx.request('198.19.1.191:80', { count: 10 })).bodies.keys()]).toEqual(['hostnames-a']);
      expect([...tally(await ctx.request('198.19.1.191:80', { count: 10, from: CLIENT_B })).bodies.keys()]).toEqual(['remote-f']);
    }, ctx.syncDeadlineMs);
  },
};

export const topologyHints: ConformanceCase = {
  id: 'topology-hints',
  title: 'trafficDistribution: zone hints keep ClusterIP traffic in the client node\'s zone (PreferSameZone), node hints on its node (PreferSameNode)',
  async run(ctx) {
    // The slices carry the hints the EndpointSlice controller would set; node-a is in zone-1, node-b in zone-2.
    const write = (trafficDistribution: 'PreferSameZone' | 'PreferSameNode', endpoints: EndpointSpec[]) =>
      ctx.manifests.write('svc.json', [
        service({ name: 'near', clusterIP: '198.19.1.217', ports: [{ port: 80, targetPort: 9376 }], trafficDistribution }),
        endpointSlice('near', [{ port: 9376 }], endpoints),
      ]);
    const answers = async (from?: string) => [...tally(await ctx.request('198.19.1.217:80', { count: 12, from })).bodies.keys()].sort();
    await write('PreferSameZone', [ep('hostnames-a', { hints: { zones: ['zone-1'] } }), ep('remote-f', { hints: { zones: ['zone-2'] } }), ep('remote-g', { hints: { zones: ['zone-2'] } })]);
    await eventually(async () => {
      expect(await answers()).toEqual(['hostnames-a']);
      expect(await answers(CLIENT_B)).toEqual(['remote-f', 'remote-g']);
    }, ctx.syncDeadlineMs);
    // Every endpoint hinted for zone-1 as well: the node hints decide, so node-b keeps its own.
    const both = (pod: string, node: string) => ep(pod, { hints: { zones: ['zone-1'], nodes: [node] } });
    await write('PreferSameNode', [both('hostnames-a', 'node-a'), both('hostnames-b', 'node-a'), both('remote-f', 'node-b')]);
    await eventually(async () => {
      expect(await answers()).toEqual(['hostnames-a', 'hostnames-b']);
      expect(await answers(CLIENT_B)).toEqual(['remote-f']);
    }, ctx.syncDeadlineMs);
  },
};

export const otherProxy: ConformanceCase = {
  id: 'service-proxy-name-ignored',
  title: 'a Service labelled service.kubernetes.io/service-proxy-name is left to that proxy',
  async run(ctx) {
    const labels = { 'service.kubernetes.io/service-proxy-name': 'someone-else' };
    await ctx.manifests.write('svc.json', [
      service({ name: 'theirs', clusterIP: '198.19.1.192', ports: [{ port: 80, targetPort: 9376 }], labels }),
      endpointSlice('theirs', [{ port: 9376 }], [ep('hostnames-a')]),
      ...simpleService('ours', '198.19.1.193', 80, [ep('hostnames-b')]),
    ]);
    // Once ours is programmed, theirs has been considered in the same sync.
    await untilAnsweredBy(ctx, '198.19.1.193:80', 'hostnames-b');
    const results = await ctx.request('198.19.1.192:80', { count: 2, timeoutMs: 800 });
    expect(results.every((r) => !r.ok)).toBe(true);
  },
};
