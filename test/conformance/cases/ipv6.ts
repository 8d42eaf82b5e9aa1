import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { endpointSlice, service } from '../../harness/manifests.js';
import { ep6 } from '../fixtures.js';
import type { ConformanceCase } from '../types.js';

export const ipv6ClusterIP: ConformanceCase = {
  id: 'ipv6-clusterip',
  title: 'IPv6 ClusterIP: [2001:db8:19::b]:80 reaches IPv6 endpoints on both nodes',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      service({ name: 'six', clusterIP: '2001:db8:19::b', ports: [{ port: 80, targetPort: 9376 }] }),
      endpointSlice('six', [{ port: 9376 }], [ep6('hostnames-a'), ep6('remote-f')]),
    ]);
    await eventually(async () => {
      const { bodies, errors } = tally(await ctx.request('[2001:db8:19::b]:80', { count: 16 }));
      expect([...bodies.keys()].sort()).toEqual(['hostnames-a', 'remote-f']);
      expect(errors.size).toBe(0);
    }, ctx.syncDeadlineMs);
  },
};
