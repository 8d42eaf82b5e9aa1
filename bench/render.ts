// Redraws docs/perf (README.md and the charts) from a results file, without measuring again:
//   tsx bench/render.ts bench/results/<date>-<machine>.json [--out DIR]
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { writeReport } from './lib/report.js';
import type { BenchResults } from './lib/results.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
const file = positionals[0];
if (!file) throw new Error('usage: tsx bench/render.ts RESULTS.json [--out DIR]');
const results = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
await writeReport(results, values.out ?? new URL('../docs/perf', import.meta.url).pathname, file);
