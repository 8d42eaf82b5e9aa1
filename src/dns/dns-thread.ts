// The main thread's handle on the DNS server thread (dns-worker.ts): starts it, forwards
// source events to it (batched per tick), and stops it.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { DnsOptions } from '../cli/options.js';
import type { DnsCounters } from '../metrics/metrics.js';
import type { SourceEvent } from '../sources/types.js';
import type { DnsServerAddress } from './server.js';

export interface DnsThreadConfig extends DnsOptions {
  /** Manifests: a namespace exists when an object is in it (see DnsObjects). */
  implicitNamespaces: boolean;
  logLevel: string;
}

export type ToDnsThread = { type: 'events'; events: SourceEvent[] } | { type: 'synced' } | { type: 'stop' };
export type FromDnsThread =
  | { type: 'listening'; address: DnsServerAddress }
  | { type: 'failed'; message: string }
  | { type: 'counters'; counters: DnsCounters };

export class DnsThread {
  private pending: SourceEvent[] = [];
  private flushQueued = false;

  private constructor(
    private readonly worker: Worker,
    readonly address: DnsServerAddress,
  ) {}

  /**
   * Starts the thread; resolves once its sockets listen, rejects with the bind error.
   * `onCounters` gets its totals every second (metrics).
   */
  static start(cfg: DnsThreadConfig, log: Logger, onCounters: (c: DnsCounters) => void = () => {}): Promise<DnsThread> {
    const worker = new Worker(new URL('./dns-worker.js', import.meta.url), { workerData: cfg });
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: FromDnsThread) => {
        switch (m.type) {
          case 'failed':
            void worker.terminate();
            reject(new Error(m.message));
            return;
          case 'listening':
            worker.off('error', reject);
            worker.on('error', (e) => log.error({ err: e }, 'dns thread failed'));
            log.info({ address: `${m.address.host}:${m.address.port}`, zone: cfg.zone }, 'dns: listening (udp, tcp)');
            resolve(new DnsThread(worker, m.address));
            return;
          case 'counters':
            onCounters(m.counters);
        }
      });
    });
  }

  onEvent(ev: SourceEvent): void {
    this.pending.push(ev);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      const events = this.pending;
      this.pending = [];
      this.worker.postMessage({ type: 'events', events } satisfies ToDnsThread);
    });
  }

  /** The source has listed every object: NXDOMAIN answers are now definite. */
  synced(): void {
    // After the events already queued (postMessage keeps order).
    setImmediate(() => this.worker.postMessage({ type: 'synced' } satisfies ToDnsThread));
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.worker.once('exit', r));
    this.worker.postMessage({ type: 'stop' } satisfies ToDnsThread);
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}
