// The whole suite on the reference in IPVS mode: the real kube-proxy --proxy-mode=ipvs, fed
// by the real API server, in a kernel with IPVS (the guest; guest-kernel.test.ts runs it
// there as the "kube-proxy/ipvs" column). On a host without IPVS every case is recorded as
// a skip naming the missing kernel feature, as for our own ipvs column.
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';
import { inGuest } from '../vm/guest.js';
import { CASES } from './cases/index.js';
import { kernelLabel, writeResults } from './results.js';
import { defineConformance } from './suite.js';

const NO_IPVS = 'no IPVS in this kernel (no /proc/net/ip_vs): see the guest column';

if (inGuest || existsSync('/proc/net/ip_vs')) defineConformance('kube-proxy/ipvs', 'kubernetes');
else {
  writeResults(
    'kube-proxy/ipvs',
    CASES.map((c) => ({ case: c.id, title: c.title, backend: 'kube-proxy/ipvs', source: 'kubernetes' as const, kernel: kernelLabel(), status: 'skip' as const, reason: NO_IPVS, ms: 0 })),
    'kubernetes',
  );
  describe.skip(`conformance: kube-proxy/ipvs (skipped on this kernel: ${NO_IPVS})`, () => {
    it('runs in the guest', () => undefined);
  });
}
