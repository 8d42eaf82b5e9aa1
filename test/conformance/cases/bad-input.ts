// Bad input never takes down what already works.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { tally } from '../../harness/client.js';
import { service } from '../../harness/manifests.js';
import { ep, simpleService } from '../fixtures.js';
import { untilAnsweredBy } from '../answered.js';
import type { ConformanceCase } from '../types.js';

export const badEditKeepsService: ConformanceCase = {
  id: 'bad-input-keeps-programmed',
  title: 'a broken file or an invalid object is skipped; programmed services keep working',
  async run(ctx) {
    const target = '198.19.1.181:80';
    await ctx.manifests.write('svc.json', simpleService('steady', '198.19.1.181', 80, [ep('hostnames-a')]));
    await untilAnsweredBy(ctx, target, 'hostnames-a');
    const syncs = ctx.proxy.syncs;
    // A half-written file, and a second file with an invalid Service next to a valid one.
    await writeFile(join(ctx.manifests.dir, 'svc.json'), '{"apiVersion": "v1", "kind": "List", "items": [');
    await ctx.manifests.write('more.json', [
      service({ name: 'broken', clusterIP: '198.19.1.999', ports: [{ port: 80, targetPort: 9376 }] }),
      ...simpleService('fresh', '198.19.1.182', 80, [ep('hostnames-b')]),
    ]);
    await ctx.proxy.waitForSyncs(syncs + 1, ctx.syncDeadlineMs);
    await untilAnsweredBy(ctx, '198.19.1.182:80', 'hostnames-b');
    const { bodies, errors } = tally(await ctx.request(target, { count: 5 }));
    expect(errors.size).toBe(0);
    expect(bodies.get('hostnames-a')).toBe(5);
    expect(ctx.proxy.logs.some((l) => l.includes('"field":"spec.clusterIPs[0]"') && l.includes('198.19.1.999'))).toBe(true);
    expect(ctx.proxy.logs.some((l) => l.includes('svc.json') && l.includes('invalid JSON'))).toBe(true);
  },
};
