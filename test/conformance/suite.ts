// Runs every case against one backend in one shared topology (node + pods + client),
// with the real bpfproxy process in the node namespace. A failing case reports the
// requests it made and the backend's `inspect` output, so the cause shows without a rerun.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { describeKernel } from '../kernel-required.js';
import { requests } from '../harness/client.js';
import { ManifestDir } from '../harness/manifests.js';
import { newRunPrefix, sweepStaleNamespaces } from '../harness/netns.js';
import { ProxyProcess } from '../harness/proxy-process.js';
import { Topology } from '../harness/topology.js';
import { BACKENDS } from './backends.js';
import { CASES } from './cases/index.js';
import { CLIENT, CLIENT_IP, NODE, PODS } from './fixtures.js';
import { type CaseResult, kernelLabel, writeResults } from './results.js';
import type { ConformanceContext } from './types.js';
import { statSync } from 'node:fs';

const STALE_AFTER_MS = 30 * 60_000;

export function defineConformance(backendName: string): void {
  const backend = BACKENDS[backendName];
  if (!backend) throw new Error(`unknown backend ${backendName}`);
  describeKernel(`conformance: ${backendName}`, () => {
    const prefix = newRunPrefix();
    const topo = new Topology(prefix);
    const results: CaseResult[] = [];
    let proxy: ProxyProcess;
    let manifests: ManifestDir;
    let workDir = '';

    beforeAll(async () => {
      await sweepStaleNamespaces(prefix, (name) => {
        try {
          return Date.now() - statSync(`/run/netns/${name}`).mtimeMs > STALE_AFTER_MS;
        } catch {
          return false;
        }
      });
      workDir = await mkdtemp(join(tmpdir(), `${prefix}-`));
      manifests = new ManifestDir(join(workDir, 'manifests'));
      await manifests.init();
      await topo.addNode(NODE, 1);
      for (const p of PODS) await topo.addPod(p.name, NODE, p.ip);
      await topo.addPod(CLIENT, NODE, CLIENT_IP, false);
      proxy = new ProxyProcess({ backend: backendName, netns: topo.node(NODE).ns, manifests: manifests.dir, nodeName: NODE, extraArgs: backend.args(prefix) });
      await proxy.start();
    });

    afterAll(async () => {
      writeResults(backendName, results);
      try {
        await proxy?.stop();
        await proxy?.cleanup().catch(() => undefined);
      } finally {
        await topo.destroy();
        if (workDir) await rm(workDir, { recursive: true, force: true });
      }
    });

    for (const c of CASES) {
      const reason = backend.unsupported[c.id];
      if (reason) {
        it.skip(`${c.id}: ${c.title} (not on ${backendName}: ${reason})`, () => undefined);
        results.push({ case: c.id, title: c.title, backend: backendName, kernel: kernelLabel(), status: 'skip', reason, ms: 0 });
        continue;
      }
      it(`${c.id}: ${c.title}`, async () => {
        const log: string[] = [];
        const ctx: ConformanceContext = {
          topo,
          proxy,
          manifests,
          backend: backendName,
          log,
          syncDeadlineMs: 6000,
          async request(target, opts = {}) {
            const from = opts.from ? topo.pod(opts.from).ns : topo.pod(CLIENT).ns;
            const r = await requests(from, target, opts);
            log.push(`${opts.from ?? CLIENT} → ${target} ${opts.proto ?? 'tcp'}: ${r.map((x) => (x.ok ? x.body : `!${x.error}`)).join(' ')}`);
            return r;
          },
        };
        const t0 = Date.now();
        try {
          await c.run(ctx);
          results.push({ case: c.id, title: c.title, backend: backendName, kernel: kernelLabel(), status: 'pass', ms: Date.now() - t0 });
        } catch (e) {
          results.push({ case: c.id, title: c.title, backend: backendName, kernel: kernelLabel(), status: 'fail', reason: (e as Error).message.split('\n')[0], ms: Date.now() - t0 });
          const inspect = await proxy.inspect().catch((x: Error) => x.message);
          (e as Error).message += `\n--- requests (last 10)\n${log.slice(-10).join('\n')}\n--- bpfproxy inspect\n${inspect}\n--- bpfproxy log (last 15)\n${proxy.logs.slice(-15).join('\n')}`;
          throw e;
        } finally {
          await manifests.clear();
        }
      });
    }
  });
}
