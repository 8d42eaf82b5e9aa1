// The shared suite on --backend=ipvs, in any kernel that has IPVS: the guest (where
// guest-kernel.test.ts runs it) or a host whose kernel has ip_vs. On a host without
// IPVS every case is recorded as a skip naming the missing kernel feature, so the matrix
// shows why that column is empty; the cases themselves run in the guest column.
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';
import { inGuest } from '../vm/guest.js';
import { CASES } from './cases/index.js';
import { kernelLabel, writeResults } from './results.js';
import { defineConformance } from './suite.js';

const NO_IPVS = 'no IPVS in this kernel (no /proc/net/ip_vs): see the guest column';
const hostHasIpvs = existsSync('/proc/net/ip_vs');

if (inGuest || hostHasIpvs) defineConformance('ipvs');
else {
  writeResults(
    'ipvs',
    CASES.map((c) => ({ case: c.id, title: c.title, backend: 'ipvs', kernel: kernelLabel(), status: 'skip' as const, reason: NO_IPVS, ms: 0 })),
  );
  describe.skip(`conformance: ipvs (skipped on this kernel: ${NO_IPVS})`, () => {
    it('runs in the guest', () => undefined);
  });
}
