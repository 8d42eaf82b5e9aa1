// Runs the client driver inside a namespace and returns its results.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nsRunInCgroup } from './cgroup.js';
import { CLIENT_SCRIPT } from './topology.js';

export interface RequestResult {
  ok: boolean;
  body?: string;
  error?: string;
  ms: number;
  /** With keepAlive: how many TCP connections the run needed (1 = never broken). */
  sockets?: number;
}

export interface RequestOptions {
  proto?: 'tcp' | 'udp';
  count?: number;
  timeoutMs?: number;
  intervalMs?: number;
  path?: string;
  bytes?: number;
  /** GET /download/N: the body reported is "<pod> <bytes received>". */
  download?: number;
  keepAlive?: boolean;
  /** udp + keepAlive: after a kernel error (not a timeout), connect a new socket for the next request. */
  reconnect?: boolean;
  /** TCP: the source address of every request (one of the client namespace's own addresses). */
  localAddress?: string;
}

type ClientOptions = RequestOptions & { cgroup?: string };

/** Requests from namespace `ns`; with `cgroup`, the client process first joins that cgroup. */
export async function requests(ns: string, target: string, o: ClientOptions = {}): Promise<RequestResult[]> {
  return runClient(ns, target, o, []);
}

async function runClient(ns: string, target: string, o: ClientOptions, extra: string[]): Promise<RequestResult[]> {
  const args = [CLIENT_SCRIPT, '--target', target, '--proto', o.proto ?? 'tcp', '--count', String(o.count ?? 1), '--timeout', String(o.timeoutMs ?? 2000), ...extra];
  if (o.intervalMs) args.push('--interval', String(o.intervalMs));
  if (o.path) args.push('--path', o.path);
  if (o.bytes) args.push('--bytes', String(o.bytes));
  if (o.download) args.push('--download', String(o.download));
  if (o.keepAlive) args.push('--keep-alive');
  if (o.reconnect) args.push('--reconnect');
  if (o.localAddress) args.push('--local-address', o.localAddress);
  // A bound on a hung client, not a measurement: node's own start takes seconds under qemu TCG.
  const startMs = process.env.BPFPROXY_IN_GUEST === '1' ? 30_000 : 10_000;
  const timeoutMs = startMs + (o.count ?? 1) * ((o.timeoutMs ?? 2000) + (o.intervalMs ?? 0));
  const r = await nsRunInCgroup(o.cgroup, ns, process.execPath, args, { timeoutMs });
  return JSON.parse(r.stdout) as RequestResult[];
}

/**
 * A request loop running in the background (at most `count` requests), for cases that
 * change something while traffic flows. The test synchronises on what the loop has seen
 * (`untilMoreAnswers`), never on elapsed time, and ends it with `stop()`.
 */
export class RequestLoop {
  private readonly dir = mkdtempSync(join(tmpdir(), 'bpfproxy-loop-'));
  private readonly progress = join(this.dir, 'progress');
  private finished = false;
  private readonly done: Promise<RequestResult[]>;
  private stopped: Promise<RequestResult[]> | undefined;

  constructor(ns: string, target: string, o: ClientOptions) {
    writeFileSync(this.progress, '');
    this.done = runClient(ns, target, o, ['--progress', this.progress, '--stop-file', join(this.dir, 'stop')]).finally(() => {
      this.finished = true;
    });
    this.done.catch(() => undefined); // observed through stop()
  }

  /** Requests finished so far, in order. */
  seen(): RequestResult[] {
    return readFileSync(this.progress, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RequestResult);
  }

  /** Waits until `k` more requests than now are answered; fails if the loop ends first or the deadline passes. */
  async untilMoreAnswers(k: number, timeoutMs: number): Promise<void> {
    const answered = () => this.seen().filter((r) => r.ok).length;
    const n = answered() + k;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = answered();
      if (ok >= n) return;
      if (this.finished) throw new Error(`the request loop ended after ${ok} answers, before ${n}`);
      if (Date.now() >= deadline) throw new Error(`the request loop had ${ok} answers after ${timeoutMs} ms, wanted ${n}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Ends the loop after its current request and returns every result (idempotent). */
  stop(): Promise<RequestResult[]> {
    this.stopped ??= (async () => {
      writeFileSync(join(this.dir, 'stop'), '');
      try {
        return await this.done;
      } finally {
        rmSync(this.dir, { recursive: true, force: true });
      }
    })();
    return this.stopped;
  }
}

/** Counts answers by body (hostname) and failures by error kind. */
export function tally(results: RequestResult[]): { bodies: Map<string, number>; errors: Map<string, number> } {
  const bodies = new Map<string, number>();
  const errors = new Map<string, number>();
  for (const r of results) {
    if (r.ok) bodies.set(r.body ?? '', (bodies.get(r.body ?? '') ?? 0) + 1);
    else errors.set(r.error ?? '?', (errors.get(r.error ?? '?') ?? 0) + 1);
  }
  return { bodies, errors };
}

/**
 * Retries `fn` until it stops throwing or the deadline passes (bounded; then rethrows).
 * Between attempts it pauses `stepMs`, or as long as the attempt took if that was longer:
 * polling then takes at most half the CPU. Under qemu TCG an attempt (a node client or a
 * `bpfproxy inspect` start, a few tool runs) costs seconds of CPU, and polling every 200 ms
 * starved the very sync it waited for.
 */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs: number, stepMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t0 = Date.now();
    try {
      return await fn();
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      const pause = Math.min(Math.max(stepMs, Date.now() - t0), deadline - Date.now());
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
