// The real bpfproxy CLI as a child process inside a node namespace — the same process
// a DaemonSet pod runs. Its JSON log lines are kept for waiting and for failure reports.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/util/exec.js';

export const BIN = fileURLToPath(new URL('../../bin/bpfproxy.js', import.meta.url));

export interface ProxyOptions {
  backend: string;
  netns: string;
  /** The source: a manifests directory, or a kubeconfig for the API server. */
  manifests?: string;
  kubeconfig?: string;
  nodeName: string;
  extraArgs?: string[];
}

/** A proxy running in a node namespace: bpfproxy, or the real kube-proxy as the reference. */
export interface NodeProxy {
  readonly opts: { extraArgs?: string[] };
  /** Its log lines, for waits and failure reports. */
  readonly logs: string[];
  /** Syncs completed so far. */
  syncs: number;
  /** Its process id while it runs (for the bench's CPU accounting). */
  readonly pid: number | undefined;
  /** Starts it and waits for its first sync (also on a restart). */
  start(timeoutMs?: number): Promise<void>;
  /** Stops it and starts it again with `extra` flags after its own (none: as first configured). */
  restart(extra?: string[]): Promise<void>;
  waitForSyncs(n: number, timeoutMs?: number): Promise<void>;
  /** SIGTERM: what it programmed stays. */
  stop(): Promise<void>;
  /** What it programmed, as text (for failure reports). */
  inspect(): Promise<string>;
  /** Its own cleanup command: removes everything it programmed. */
  cleanup(): Promise<void>;
}

/**
 * A proxy child process: counts the log lines that mark a finished sync, waits for them,
 * and stops it. stdout and stderr both feed the log (klog writes to stderr).
 */
export abstract class ChildProxy {
  protected child: ChildProcess | undefined;
  /** Flags a case added for one restart (restart()), after the proxy's own. */
  protected extra: string[] = [];
  readonly logs: string[] = [];
  syncs = 0;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly what: string,
    private readonly synced: RegExp,
  ) {}

  protected attach(child: ChildProcess): void {
    this.child = child;
    let buf = '';
    const onData = (b: Buffer) => {
      buf += b.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.logs.push(line);
        if (this.synced.test(line)) {
          this.syncs++;
          this.waiters.splice(0).forEach((w) => w());
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  }

  get pid(): number | undefined {
    return this.exited() ? undefined : this.child?.pid;
  }

  /** Gone already: exited, or killed by a signal (then exitCode stays null). */
  private exited(): boolean {
    return this.child !== undefined && (this.child.exitCode !== null || this.child.signalCode !== null);
  }

  /** Resolves once `n` syncs in total have completed. */
  async waitForSyncs(n: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.syncs < n) {
      if (this.exited()) throw new Error(`${this.what} exited (${this.child!.exitCode ?? this.child!.signalCode}):\n${this.logs.slice(-20).join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.what} did not sync ${n} times in ${timeoutMs} ms:\n${this.logs.slice(-20).join('\n')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  abstract start(): Promise<void>;

  async restart(extra: string[] = []): Promise<void> {
    await this.stop();
    this.extra = extra;
    await this.start();
  }

  /** SIGTERM (the data plane stays programmed), bounded wait, then SIGKILL. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || this.exited()) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

/**
 * The ebpf backend attaches its socket LB to the node's cgroup2 root unless told otherwise:
 * from a test that is THIS machine's root, every process on it. A test proxy (run, inspect
 * and --cleanup alike) therefore either names its own cgroup (--cgroup-path, made with
 * harness/cgroup.ts) or gets the socket LB turned off here.
 */
export function socketLbGuard(backend: string, flags: readonly string[]): string[] {
  if (backend !== 'ebpf') return [];
  const given = (name: string) => flags.some((f) => f === name || f.startsWith(`${name}=`));
  return given('--cgroup-path') || given('--socket-lb') ? [] : ['--socket-lb=false'];
}

export class ProxyProcess extends ChildProxy implements NodeProxy {
  constructor(readonly opts: ProxyOptions) {
    super('bpfproxy', /"msg":"synced"/);
  }

  args(): string[] {
    const o = this.opts;
    const flags = [...(o.extraArgs ?? []), ...this.extra];
    return [
      '--backend', o.backend, '--netns', o.netns, '--node-name', o.nodeName,
      '--healthz-bind-address', '', '--metrics-bind-address', '',
      ...flags,
      ...socketLbGuard(o.backend, flags),
    ];
  }

  /** Starts `bpfproxy run` and waits for its first successful sync (also on a restart). */
  async start(timeoutMs = process.env.BPFPROXY_IN_GUEST === '1' ? 90_000 : 30_000): Promise<void> {
    const before = this.syncs;
    this.launch();
    await this.waitForSyncs(before + 1, timeoutMs);
  }

  /** Starts `bpfproxy run` without waiting for anything. */
  launch(): void {
    const source = this.opts.kubeconfig ? ['--kubeconfig', this.opts.kubeconfig] : ['--manifests', this.opts.manifests!];
    this.attach(spawn(process.execPath, [BIN, 'run', ...source, '--min-sync-period', '100ms', '--sync-period', '5s', ...this.args()], { stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** `bpfproxy inspect` against the same backend and namespace. */
  async inspect(): Promise<string> {
    const r = await run(process.execPath, [BIN, 'inspect', ...this.args()], { allowFailure: true, timeoutMs: 30_000 });
    return r.stdout + r.stderr;
  }

  /** `bpfproxy run --cleanup`. A bound, not a measurement: under qemu TCG the iptables
   * cleanup (one iptables run per jump rule and family, then save/restore) took 30 s. */
  async cleanup(timeoutMs = process.env.BPFPROXY_IN_GUEST === '1' ? 120_000 : 30_000): Promise<void> {
    await run(process.execPath, [BIN, 'run', '--cleanup', ...this.args()], { timeoutMs });
  }
}
