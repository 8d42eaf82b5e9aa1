// Run commands in the throwaway Debian 6.1 guest kernel (qemu/TCG) built by scripts/vm/.
// The guest sees the host filesystem read-only (writes go to a RAM overlay), so tests can
// create interfaces, IPVS services and netfilter rules there without touching the host.
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VM_DIR = path.join(REPO_ROOT, 'scripts/vm');

/** True inside the guest (run.sh sets BPFPROXY_IN_GUEST=1 for the job). */
export const inGuest = process.env.BPFPROXY_IN_GUEST === '1';

export interface GuestOptions {
  /** Working directory of the command (default: process.cwd()). Not under /run (fresh in the guest). */
  cwd?: string;
  /** Extra environment; run.sh forwards PATH, HOME, CI, BPFPROXY_*, VITEST_* and a few more. */
  env?: Record<string, string | undefined>;
  /** Guest timeout in seconds (BPFPROXY_VM_TIMEOUT, default 1800). */
  timeoutSec?: number;
  /** Called with each chunk of output as it arrives (e.g. to stream to the console). */
  onOutput?: (chunk: string) => void;
}

export interface GuestResult {
  /** Exit code of the command; 124 = guest timed out, 125 = guest failed to boot/run. */
  code: number;
  /** The command's stdout+stderr (and run.sh's own diagnostics) in arrival order. */
  output: string;
}

/**
 * Run `cmd` in a fresh guest and resolve with its exit code and output. Already inside the
 * guest (nested TCG would crawl) the command simply runs directly.
 */
export function runInGuest(cmd: string[], opts: GuestOptions = {}): Promise<GuestResult> {
  if (cmd.length === 0) throw new Error('runInGuest: empty command');
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (opts.timeoutSec !== undefined) env.BPFPROXY_VM_TIMEOUT = String(opts.timeoutSec);
  const [file, ...args] = inGuest ? cmd : ['bash', path.join(VM_DIR, 'run.sh'), ...cmd];

  return new Promise((resolve, reject) => {
    const child = spawn(file as string, args, {
      cwd: opts.cwd ?? process.cwd(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (buf: Buffer): void => {
      const s = buf.toString('utf8');
      output += s;
      opts.onOutput?.(s);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    // Belt and braces: run.sh enforces the timeout itself; this only catches a wedged run.sh.
    const limitSec = Number(env.BPFPROXY_VM_TIMEOUT ?? 1800) + 60;
    const timer = setTimeout(() => child.kill('SIGKILL'), limitSec * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal ? os.constants.signals[signal] : 0), output });
    });
  });
}

/**
 * Why the guest cannot run on this machine, or undefined when it can. Installs qemu and
 * the Debian kernel (scripts/vm/install.sh, ~1 min the first time) and builds the boot
 * artefacts (scripts/vm/build.sh, ~1 s) as a side effect.
 */
export function guestUnavailableReason(): string | undefined {
  if (inGuest) return undefined;
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'guest VM needs linux/x64';
  if (process.getuid?.() !== 0) return 'guest VM setup needs root (apt-get install qemu)';
  for (const script of ['install.sh', 'build.sh']) {
    const r = spawnSync('bash', [path.join(VM_DIR, script)], { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) {
      const tail = `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim().split('\n').slice(-5).join('\n');
      return `scripts/vm/${script} failed (status ${r.status}): ${tail}`;
    }
  }
  return undefined;
}
