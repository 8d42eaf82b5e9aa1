// The shared suite on a proxy that needs IPVS (ours, or kube-proxy in IPVS mode), in any
// kernel that has it: the guest (where guest-kernel.test.ts runs it) or a host whose kernel
// has ip_vs. On a host without IPVS every case is recorded as a skip naming the missing
// kernel feature, so the matrix shows why that column is empty; the cases run in the guest.
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';
import { inGuest } from '../vm/guest.js';
import { CASES } from './cases/index.js';
import { kernelLabel, writeResults } from './results.js';
import { defineConformance } from './suite.js';
import type { ConformanceSource } from './types.js';

const NO_IPVS = 'no IPVS in this kernel (no /proc/net/ip_vs): see the guest column';

export function defineIpvsConformance(backend: string, source: ConformanceSource = 'manifests'): void {
  if (inGuest || existsSync('/proc/net/ip_vs')) return defineConformance(backend, source);
  writeResults(
    backend,
    CASES.map((c) => ({
      case: c.id, title: c.title, backend, ...(source !== 'manifests' ? { source } : {}), kernel: kernelLabel(), status: 'skip' as const, reason: NO_IPVS, ms: 0,
    })),
    source,
  );
  describe.skip(`conformance: ${backend} (skipped on this kernel: ${NO_IPVS})`, () => {
    it('runs in the guest', () => undefined);
  });
}
