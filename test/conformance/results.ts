// Per-run results the matrix is built from (.conformance/results-<backend>-<kernel>.json).
import { mkdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';

export type Status = 'pass' | 'fail' | 'skip';
export interface CaseResult {
  case: string;
  title: string;
  backend: string;
  kernel: string;
  status: Status;
  reason?: string;
  ms: number;
}

export const RESULTS_DIR = fileURLToPath(new URL('../../.conformance/', import.meta.url));

export function kernelLabel(): string {
  return process.env.BPFPROXY_IN_GUEST === '1' ? `guest ${release()}` : `host ${release()}`;
}

export function writeResults(backend: string, results: CaseResult[]): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const kernel = kernelLabel().replace(/[^a-zA-Z0-9.-]+/g, '_');
  writeFileSync(`${RESULTS_DIR}results-${backend}-${kernel}.json`, JSON.stringify(results, null, 1));
}
