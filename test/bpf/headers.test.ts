// The BPF objects build from kernel UAPI and libbpf headers only. glibc's headers ask a
// `-target bpf` build for the 32-bit stubs (gnu/stubs-32.h), which only a machine with
// libc6-dev-i386 installed by hand has; this test names any glibc header a change pulls in.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { run } from '../../src/util/exec.js';
import { itNeeds } from '../kernel-required.js';

const REPO = join(import.meta.dirname, '../..');
const SOURCES = readdirSync(join(REPO, 'bpf')).filter((f) => f.endsWith('.bpf.c'));
const clang = await run('clang', ['-print-resource-dir'], { allowFailure: true }).catch(() => undefined);
const missing = clang?.code === 0 ? undefined : 'clang is not installed (make setup installs it)';

/** Where a BPF object's headers may come from: ours, the compiler's own, kernel UAPI, libbpf. */
function allowed(resourceDir: string): RegExp[] {
  return [
    new RegExp(`^${join(REPO, 'bpf')}/`),
    new RegExp(`^${resourceDir.trim()}/include/`),
    /^\/usr\/include\/(linux|asm-generic|bpf)\//,
    /^\/usr\/include\/[a-z0-9_]+-linux-gnu[a-z0-9_]*\/asm\//,
  ];
}

/** The files `clang -M` lists for one source, built with the Makefile's own flags. */
async function dependencies(source: string): Promise<string[]> {
  const flags = (await run('make', ['-s', '--no-print-directory', 'bpf-cflags'], { cwd: REPO, env: { ...process.env, MAKEFLAGS: '' } })).stdout.trim().split(/\s+/);
  const r = await run('clang', [...flags, '-M', join('bpf', source)], { cwd: REPO });
  return r.stdout.replace(/\\\n/g, ' ').split(/\s+/).slice(1).filter(Boolean).map((f) => (f.startsWith('/') ? f : join(REPO, f)));
}

describe('BPF sources include no glibc header', () => {
  for (const source of SOURCES) {
    itNeeds(missing, `${source}: every header is ours, the compiler's, kernel UAPI or libbpf`, async () => {
      const ok = allowed(clang!.stdout);
      const deps = await dependencies(source);
      expect(deps.length).toBeGreaterThan(3);
      expect(deps.filter((d) => !ok.some((re) => re.test(d)))).toEqual([]);
    });
  }
});
