// The DNS server's thread (a worker_threads Worker started by dns-thread.ts). Queries are
// answered here, off the main thread, so a flood of them never delays the proxier's sync
// loop; the main thread only posts the source's object events, which keep this thread's
// DnsObjects as current as the proxier's own view.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../util/logger.js';
import { ClusterZone } from './cluster-zone.js';
import { DnsObjects } from './dns-objects.js';
import { DnsResponder, DnsServer } from './server.js';
import type { ToDnsThread, DnsThreadConfig, FromDnsThread } from './dns-thread.js';
import { Upstream } from './upstream.js';

const cfg = workerData as DnsThreadConfig;
const port = parentPort!;
const log = createLogger(cfg.logLevel).child({ component: 'dns' });
const objects = new DnsObjects(cfg.implicitNamespaces, (p) =>
  log.warn({ file: p.source, object: p.object, field: p.field }, `dns: skipped: ${p.message}`),
);
const upstream = cfg.upstream ? new Upstream(cfg.upstream) : undefined;
const zone = new ClusterZone(objects, {
  zone: cfg.zone,
  ttl: cfg.ttlSeconds,
  pods: cfg.pods,
  resolveOutside: upstream && ((name, type) => upstream.resolve(name, type)),
});
const server = new DnsServer(new DnsResponder(zone, upstream, log), log);
const post = (m: FromDnsThread) => port.postMessage(m);

// When a query flood and a sync want the same core, the sync goes first: this thread runs
// at nice 10 (Linux: setpriority on a thread id affects that thread alone).
const DNS_THREAD_NICE = 10;
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  setPriority(tid, DNS_THREAD_NICE);
} catch (e) {
  log.warn({ err: (e as Error).message }, 'dns: could not lower the DNS thread priority');
}

port.on('message', (m: ToDnsThread) => {
  switch (m.type) {
    case 'events':
      for (const ev of m.events) objects.onEvent(ev);
      return;
    case 'synced':
      zone.synced = true;
      return;
    case 'stop':
      clearInterval(counters);
      server.close();
      port.close();
  }
});
/** Totals go to the main thread's /metrics once a second. */
const COUNTERS_EVERY_MS = 1000;
let counters: NodeJS.Timeout | undefined;
server.listen(cfg.bind).then(
  (address) => {
    post({ type: 'listening', address });
    counters = setInterval(() => post({ type: 'counters', counters: server.counters }), COUNTERS_EVERY_MS);
    counters.unref();
  },
  (e: Error) => post({ type: 'failed', message: `--dns-bind-address ${cfg.bind.host}:${cfg.bind.port}: ${e.message}` }),
);
