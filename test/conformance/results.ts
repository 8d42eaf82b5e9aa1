// Per-run results the matrix is built from (.conformance/results-<backend>-<kernel>.json).
import { mkdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';

export type Status = 'pass' | 'fail' | 'skip';
export interface CaseResult {
  case: string;
  title: string;
  backend: string;
  /** manifests (default) or kubernetes: where the proxies read the objects from. */
  source?: string;
  kernel: string;
  status: Status;
  reason?: string;
  ms: number;
}

export const RESULTS_DIR = fileURLToPath(new URL('../../.conformance/', import.meta.url));

export function kernelLabel(): string {
  return process.env.BPFPROXY_IN_GUEST === '1' ? `guest ${release()}` : `host ${release()}`;
}

export function writeResults(backend: string, results: CaseResult[], source = 'manifests'): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const kernel = kernelLabel().replace(/[^a-zA-Z0-9.-]+/g, '_');
  const via = source === 'manifests' ? '' : `-${source}`;
  writeFileSync(`${RESULTS_DIR}results-${backend.replace('/', '_')}${via}-${kernel}.json`, JSON.stringify(results, null, 1));
}
