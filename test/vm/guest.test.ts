// Proves the guest-kernel runner (scripts/vm/) works: the Debian 6.1 guest boots, has IPVS
// and the dummy driver, and a netns + IPVS data path answers. Every test boots its own
// guest (~4 s under TCG), so nothing here touches the host's network.
import { describe, expect, it } from 'vitest';
import { kernelRequired, kernelUnavailableReason } from '../kernel-required.js';
import { REPO_ROOT, guestUnavailableReason, inGuest, runInGuest } from './guest.js';

// Evaluated at collection time: may apt-get install qemu + kernel (~1 min, first run only).
const reason = kernelUnavailableReason() ?? guestUnavailableReason();

// Boot (~3-4 s) plus node/tool startup under TCG; generous because CI machines are slower.
const TIMEOUT_MS = 180_000;

function guestSuite(): void {
  it('boots the Debian 6.1 kernel and reports the job exit code', async () => {
    const r = await runInGuest(
      ['bash', '-c', 'uname -r; echo "in-guest=$BPFPROXY_IN_GUEST"; pwd; exit 7'],
      { cwd: REPO_ROOT },
    );
    expect(r.code, r.output).toBe(7);
    expect(r.output).toMatch(/^6\.1\.\d+-\d+-amd64$/m);
    expect(r.output).toContain('in-guest=1');
    expect(r.output).toContain(`\n${REPO_ROOT}\n`);
  }, TIMEOUT_MS);

  it('loads ip_vs and lists an empty IPVS table', async () => {
    const r = await runInGuest(['bash', '-c', 'modprobe ip_vs && ipvsadm -Ln']);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('IP Virtual Server version');
  }, TIMEOUT_MS);

  it('creates a dummy interface (module autoloaded, as on a normal node)', async () => {
    const r = await runInGuest([
      'bash',
      '-c',
      'set -e; ip link add kube-ipvs0 type dummy; ip addr add 198.19.1.175/32 dev kube-ipvs0; ip -br addr show kube-ipvs0',
    ]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/kube-ipvs0\s+\S+\s+198\.19\.1\.175\/32/);
  }, TIMEOUT_MS);

  it('routes a client through an IPVS virtual server to a pod (netns, masquerade)', async () => {
    const r = await runInGuest(['bash', 'test/vm/ipvs-smoke.sh'], { cwd: REPO_ROOT });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('client got: pod-a');
    expect(r.output).toContain('IPVS-SMOKE-OK');
  }, TIMEOUT_MS);
}

// Inside the guest this suite would only test itself; run it from the host.
if (inGuest) {
  describe.skip('guest kernel (qemu) (skipped: already inside the guest)', guestSuite);
} else if (reason === undefined) {
  describe('guest kernel (qemu)', guestSuite);
} else if (kernelRequired) {
  describe('guest kernel (qemu)', () => {
    it('guest prerequisites', () => {
      throw new Error(`guest kernel test required (CI/BPFPROXY_REQUIRE_KERNEL) but cannot run: ${reason}`);
    });
  });
} else {
  describe.skip(`guest kernel (qemu) (skipped: ${reason})`, guestSuite);
}
