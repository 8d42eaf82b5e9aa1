// The shared suite on --backend=ipvs. Only the guest kernel has IPVS: inside it
// (BPFPROXY_IN_GUEST=1) this runs the suite; on the host, guest-kernel.test.ts boots the
// guest and reports these cases, so here it is skipped with that reason.
import { describe, it } from 'vitest';
import { inGuest } from '../vm/guest.js';
import { defineConformance } from './suite.js';

if (inGuest) defineConformance('ipvs');
else {
  describe.skip('conformance: ipvs (skipped on the host: no IPVS in this kernel; runs in the guest via guest-kernel.test.ts)', () => {
    it('runs in the guest', () => undefined);
  });
}
