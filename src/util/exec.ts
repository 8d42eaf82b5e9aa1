// Running the real system tools (iptables-restore, ip, tc, bpftool, ipvsadm...).
import { spawn } from 'node:child_process';

export class ExecError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr.trim() || stdout.trim()}`);
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  input?: string;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run inside network namespace /run/netns/NAME (through nsenter): the one way a
   * backend, and so a test, acts on a namespace other than the caller's. */
  netns?: string;
}

/**
 * A state-changing tool run as data: its command line and what it reads on stdin. A backend
 * builds these once, runs them in a sync and prints them in `bpfproxy render`, so what render
 * shows is literally what a sync runs.
 */
export interface ToolWrite {
  cmd: string;
  args: string[];
  input: string;
}

/** Runs a ToolWrite (its input on stdin). */
export function runWrite(w: ToolWrite, opts: Omit<ExecOptions, 'input'> = {}): Promise<ExecResult> {
  return run(w.cmd, w.args, { ...opts, input: w.input });
}

/** `# cmd args` and the input, as `bpfproxy render` prints a ToolWrite. */
export function formatWrite(w: ToolWrite): string {
  return `# ${[w.cmd, ...w.args].join(' ')}\n${w.input}`;
}

/** Processes started by `run` in this process so far: what a sync costs where every
 * process start is expensive (qemu TCG: 0.3–0.7 s each). Backends log the difference. */
let started = 0;
const recent: string[] = [];
export function toolRuns(): number {
  return started;
}
/** The last `n` (≤ 32) commands started, as "tool first-argument", oldest first. */
export function recentTools(n: number): string[] {
  return recent.slice(-n);
}

export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  started++;
  recent.push(`${cmd} ${args[0] ?? ''}`);
  if (recent.length > 32) recent.shift();
  return new Promise((resolve, reject) => {
    const [file, argv] = opts.netns ? ['nsenter', [`--net=/run/netns/${opts.netns}`, '--', cmd, ...args]] : [cmd, args];
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ExecError(cmd, args, null, '', e.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code !== 0 && !opts.allowFailure) reject(new ExecError(cmd, args, code, stdout, stderr));
      else resolve({ stdout, stderr, code: code ?? -1 });
    });
    child.stdin.on('error', () => undefined); // a tool that exits early closes its stdin
    child.stdin.end(opts.input ?? '');
  });
}
