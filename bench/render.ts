// Redraws docs/perf (README.md and the charts, or guest-ipvs.md for a guest run) from a results file, without measuring again;
// the target checks are derived data, recomputed and written back into the file:
//   tsx bench/render.ts bench/results/<date>-<machine>.json [--out DIR]
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { writeReport } from './lib/report.js';
import type { BenchResults } from './lib/results.js';
import { controlPlaneTargets, dataPlaneTargets, formatTargets } from './lib/targets.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
const file = positionals[0];
if (!file) throw new Error('usage: tsx bench/render.ts RESULTS.json [--out DIR]');
const results = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
// The targets are ebpf's, on the host: none for the guest's IPVS run.
results.targets = results.meta.guest ? [] : [...dataPlaneTargets(results.dataplane), ...controlPlaneTargets(results.ebpfControlPlane)];
await writeFile(file, JSON.stringify(results, null, 1) + '\n');
console.log(`targets:\n${formatTargets(results.targets)}`);
await writeReport(results, values.out ?? new URL('../docs/perf', import.meta.url).pathname, file);
