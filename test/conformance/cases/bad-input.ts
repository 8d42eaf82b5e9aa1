// Bad input never takes down what already works.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { tally } from '../../harness/client.js';
import { service } from '../../harness/manifests.js';
import { ep, simpleService } from '../fixtures.js';
import { untilAnsweredBy } from '../answered.js';
import type { ConformanceCase, ConformanceContext } from '../types.js';

/** The API server validates before anything is stored: an invalid Service never reaches
 * the proxy, and the refusal names the field. Everything else keeps flowing. */
async function refusedByApiServer(ctx: ConformanceContext, target: string): Promise<void> {
  const refused = ctx.manifests.write('broken.json', [service({ name: 'broken', clusterIP: '198.19.1.999', ports: [{ port: 80, targetPort: 9376 }] })]);
  await expect(refused).rejects.toThrow(/422.*spec\.clusterIPs(\[0\])?.*198\.19\.1\.999/s);
  await ctx.manifests.write('more.json', simpleService('fresh', '198.19.1.182', 80, [ep('hostnames-b')]));
  await untilAnsweredBy(ctx, '198.19.1.182:80', 'hostnames-b');
  const { bodies, errors } = tally(await ctx.request(target, { count: 5 }));
  expect(errors.size).toBe(0);
  expect(bodies.get('hostnames-a')).toBe(5);
}

/** A half-written file, and a second file with an invalid Service next to a valid one. */
async function skippedFromFiles(ctx: ConformanceContext, target: string): Promise<void> {
  const syncs = ctx.proxy.syncs;
  await writeFile(join(ctx.manifests.dir!, 'svc.json'), '{"apiVersion": "v1", "kind": "List", "items": [');
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
}

export const badEditKeepsService: ConformanceCase = {
  id: 'bad-input-keeps-programmed',
  title: 'a broken file or an invalid object is skipped (API: refused, naming the field); programmed services keep working',
  async run(ctx) {
    const target = '198.19.1.181:80';
    await ctx.manifests.write('svc.json', simpleService('steady', '198.19.1.181', 80, [ep('hostnames-a')]));
    await untilAnsweredBy(ctx, target, 'hostnames-a');
    await (ctx.source === 'kubernetes' ? refusedByApiServer(ctx, target) : skippedFromFiles(ctx, target));
  },
};
