// Runs `fn` when asked, but never more often than minInterval and at least every
// maxInterval (kube-proxy's BoundedFrequencyRunner). Requests that arrive while a run is
// in progress coalesce into one follow-up run. A failed run is retried with backoff.
export interface RunnerOptions {
  minIntervalMs: number;
  maxIntervalMs: number;
  /** First retry delay after a failure; doubles up to maxIntervalMs. */
  retryBaseMs?: number;
}

export class BoundedFrequencyRunner {
  private lastRun = 0;
  private running: Promise<void> | undefined;
  private pending = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private started = false;

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly opts: RunnerOptions,
  ) {}

  /** Nothing runs before start(): requests until then are one run at start. */
  start(): void {
    if (this.stopped) return;
    this.started = true;
    this.periodic = setInterval(() => this.request(), this.opts.maxIntervalMs);
    this.request();
  }

  /** Ask for a run as soon as minInterval allows. */
  request(): void {
    if (this.stopped) return;
    this.pending = true;
    // Before start() the source is still listing: a run now would program a partial table
    // (Services without their endpoints), as kube-proxy would if it did not wait for its caches.
    if (!this.started) return;
    if (this.running || this.timer) return; // the running one re-checks `pending`
    const wait = Math.max(0, this.lastRun + this.opts.minIntervalMs - Date.now());
    // setTimeout(0) waits at least 1 ms: too long for a change that may run now.
    if (wait === 0) {
      this.timer = setImmediate(() => {
        this.timer = undefined;
        void this.runNow();
      });
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runNow();
    }, wait);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    clearInterval(this.periodic);
    await this.running;
  }

  private async runNow(): Promise<void> {
    if (this.stopped || !this.pending) return;
    this.pending = false;
    this.lastRun = Date.now();
    let ok = true;
    this.running = this.fn().catch(() => {
      ok = false;
    });
    await this.running;
    this.running = undefined;
    if (!ok) {
      this.failures++;
      const base = this.opts.retryBaseMs ?? 1000;
      const delay = Math.min(this.opts.maxIntervalMs, base * 2 ** (this.failures - 1));
      this.pending = true;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.runNow();
      }, delay);
      return;
    }
    this.failures = 0;
    if (this.pending) this.request();
  }
}
