// Gate for tests that need a real kernel (netns, netfilter, BPF) and root.
// Locally they skip with a reason when the machine cannot run them; in CI
// (CI=true) or with BPFPROXY_REQUIRE_KERNEL=1 a test that would skip FAILS instead,
// so a green CI always means the kernel tests ran.
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';

export const kernelRequired = process.env.CI === 'true' || process.env.BPFPROXY_REQUIRE_KERNEL === '1';

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelUnavailableReason(extra: { btf?: boolean } = {}): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, netfilter, BPF)';
  if (!existsSync('/run/netns') && !existsSync('/var/run')) return 'no /run for network namespaces';
  if (extra.btf && !existsSync('/sys/kernel/btf/vmlinux')) return 'kernel has no BTF (/sys/kernel/btf/vmlinux)';
  return undefined;
}

type Fn = () => void;

/** describe() for kernel tests: skip locally with a reason, fail in CI. */
export function describeKernel(name: string, fn: Fn, extra: { btf?: boolean } = {}): void {
  const reason = kernelUnavailableReason(extra);
  if (reason === undefined) {
    describe(name, fn);
  } else if (kernelRequired) {
    describe(name, () => {
      it('kernel prerequisites', () => {
        throw new Error(`kernel test required but cannot run: ${reason}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${reason})`, fn);
  }
}

/**
 * it() for a test with a prerequisite of its own beyond describeKernel's (a cgroup v2
 * mount, a kernel feature): `missing` is why it cannot run, or undefined. Locally a skip
 * that names the reason; in CI a failure, like every other kernel test that would skip.
 */
export function itNeeds(missing: string | undefined, name: string, fn: () => Promise<void> | void, timeoutMs?: number): void {
  if (missing === undefined) it(name, fn, timeoutMs);
  else if (kernelRequired) {
    it(name, () => {
      throw new Error(`required but cannot run: ${missing}`);
    });
  } else it.skip(`${name} (skipped: ${missing})`, fn);
}
