// Smoke test of `make bench QUICK=1`: the quick bench runs end to end (real API server, real
// proxies, real load tools) into a temp directory, and the files it promises exist and parse.
// The numbers are not checked: a shared CI machine cannot promise any.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import type { BenchResults } from '../../bench/lib/results.js';
import { MODES } from '../../bench/lib/modes.js';
import { describeCluster } from '../cluster/describe-cluster.js';
import { describeKernel } from '../kernel-required.js';

const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

describeKernel('make bench QUICK=1', () => {
  describeCluster('against the test cluster', () => {
    it('writes the results JSON, the markdown report and four SVG charts', async () => {
      const out = await mkdtemp(join(tmpdir(), 'bpfproxy-bench-'));
      try {
        const stdout = await new Promise<string>((resolve, reject) =>
          execFile(TSX, [RUN, '--quick', '--out', out], { encoding: 'utf8', timeout: 9 * 60_000, maxBuffer: 64 << 20 }, (err, so, se) =>
            err ? reject(new Error(`bench/run.ts --quick failed: ${err.message}\n${se.slice(-4000)}`)) : resolve(so),
          ),
        );
        expect(stdout).toMatch(/^targets:$/m);

        const [json] = await readdir(join(out, 'results'));
        const r = JSON.parse(await readFile(join(out, 'results', json!), 'utf8')) as BenchResults;
        expect(r.meta.quick).toBe(true);
        expect(r.meta.loadBefore).toHaveLength(3);
        // Every mode at both quick scales, each with a measured rate.
        for (const scale of [1, 1000])
          for (const mode of MODES) expect(r.dataplane.find((d) => d.scale === scale && d.mode === mode)?.shortRps, `${mode} at ${scale}`).toBeGreaterThan(0);
        expect(r.perPacket.length).toBeGreaterThan(0);
        expect(r.ebpfControlPlane.map((c) => c.services)).toEqual([1000]);
        // North-south XDP beside tc: both placements, both modes, frames delivered in each.
        expect(r.xdp?.map((p) => p.where)).toEqual(['local pod', 'pod on another node']);
        for (const p of r.xdp ?? []) for (const mode of ['tc', 'xdp'] as const) expect(p.rounds[mode][0]?.delivered, `${p.where} ${mode}`).toBeGreaterThan(0);

        const md = await readFile(join(out, 'perf', 'README.md'), 'utf8');
        for (const h of ['## Targets', '## Data plane', '## Control plane through the API server', '## Per packet (ebpf)', '## North-south: XDP beside tc (NodePort, UDP)']) expect(md).toContain(h);
        for (const svg of ['connect-latency.svg', 'short-connection-rate.svg', 'sync-time.svg', 'ns-per-packet.svg']) {
          const text = await readFile(join(out, 'perf', svg), 'utf8');
          expect(text, svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
          expect(text.trimEnd().endsWith('</svg>'), svg).toBe(true);
          expect(md).toContain(`(${svg})`);
        }
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    }, 10 * 60_000);
  });
});
