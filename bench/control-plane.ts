// Control-plane cost of the ebpf backend at 1k, 10k and 100k services × 10 endpoints, on
// the real path: source events → Proxier (change tracker) → EbpfBackend → libbpf → the
// kernel's maps. Each size runs in a process of its own (so RSS is that size's), with its
// own pin root and an empty network namespace (`bpt<5hex>-cp`, so tc attaches nowhere),
// both removed at the end.
//
// Latency of a change = event handed to the proxier → backend.sync() returned (the last
// map syscall done). Verify = a sync-period sync with nothing changed (map entry counts
// compared). RSS is the process's; heap is the live JS heap after a full GC. --min-sync-period is 0 here: the production default (1 s) would
// only add its wait to every number; the rate limit is not what is measured.
//
// Run: npx tsx bench/control-plane.ts [size ...]   (default 1000 10000 100000)
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { EbpfBackend } from '../src/backends/ebpf/index.js';
import { createMetrics } from '../src/metrics/metrics.js';
import type { Backend, SyncResult } from '../src/proxier/backend.js';
import { Proxier } from '../src/proxier/proxier.js';
import type { SourceEvent } from '../src/sources/types.js';
import { createNetns, deleteNetns, newRunPrefix } from '../test/harness/netns.js';
import { percentile as pct } from './stats.js';

const ENDPOINTS = 10;
const CHANGES = 200;
const ADDS = 50;

/** VIP i: 198.19.0.0/16 (65536 addresses), then the same addresses on the next port. */
function frontend(i: number): { ip: string; port: number } {
  const n = i % 65_536;
  return { ip: `198.19.${n >> 8}.${n & 255}`, port: 80 + Math.floor(i / 65_536) };
}

function podIP(n: number): string {
  const m = n % 65_000;
  return `198.18.${(m >> 8) & 255}.${m & 255}`;
}

function serviceEvent(i: number): SourceEvent {
  const f = frontend(i);
  const object = {
    apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name: `svc-${i}` },
    spec: { clusterIP: f.ip, ports: [{ name: 'http', port: f.port, targetPort: 8080, protocol: 'TCP' }] },
  };
  return { type: 'ADDED', kind: 'Service', key: `bench/svc-${i}`, object, source: 'bench' };
}

/** The slice of service i; `gen` replaces its first endpoint (one endpoint change per step). */
function sliceEvent(i: number, gen = 0): SourceEvent {
  const object = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { namespace: 'bench', name: `svc-${i}-abcde`, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: ENDPOINTS }, (_, j) => ({
      addresses: [podIP(j === 0 && gen > 0 ? 40_000 + gen : i * ENDPOINTS + j)],
      conditions: { ready: true, serving: true, terminating: false },
    })),
  };
  return { type: gen ? 'MODIFIED' : 'ADDED', kind: 'EndpointSlice', key: `bench/svc-${i}-abcde`, object, source: 'bench' };
}

const rssMB = () => Math.round(process.memoryUsage().rss / 2 ** 20);
/** Live JS heap after a full GC (the inner process runs with --expose-gc). */
const heapMB = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return Math.round(process.memoryUsage().heapUsed / 2 ** 20);
};

async function inner(n: number): Promise<void> {
  const ns = `${newRunPrefix()}-cp`;
  const pinRoot = `/sys/fs/bpf/${ns}`;
  await createNetns(ns);
  // Production settings (link watch, 1 s interface poll, 5 s conntrack GC), only the pin root
  // and the namespace are the bench's own.
  const ebpf = new EbpfBackend({ pinRoot, netns: `/run/netns/${ns}` });
  // Resolves the waiter when a sync returns: that is "last syscall done".
  let done: ((r: SyncResult) => void) | undefined;
  const backend: Backend = {
    name: 'ebpf',
    sync: async (u, o) => {
      const r = await ebpf.sync(u, o);
      done?.(r);
      return r;
    },
    cleanup: () => ebpf.cleanup(),
    inspect: () => ebpf.inspect(),
  };
  const synced = () => new Promise<SyncResult>((resolve) => (done = resolve));
  const proxier = new Proxier(backend, { nodeName: 'node-a', minSyncPeriodMs: 0, syncPeriodMs: 3_600_000 }, pino({ level: 'silent' }), createMetrics());
  try {
    // Loading the programs (verifier) is once per process start: timed on its own.
    let t = performance.now();
    await ebpf.sync({ table: { services: new Map(), nodeName: 'node-a', nodes: new Map() } }, { full: true });
    const loadMs = performance.now() - t;
    const rss0 = rssMB();
    t = performance.now();
    for (let i = 0; i < n; i++) {
      proxier.onEvent(serviceEvent(i));
      proxier.onEvent(sliceEvent(i));
    }
    const ingestMs = performance.now() - t;
    t = performance.now();
    let wait = synced();
    proxier.start();
    const first = await wait;
    const fullMs = performance.now() - t;
    const fullSplit = { ...ebpf.lastTimings };
    if (first.failed.length) throw new Error(`full sync failed for ${first.failed.length} service ports: ${first.failed[0]![1]}`);
    const rssFull = rssMB();

    const change: number[] = [];
    for (let k = 1; k <= CHANGES; k++) {
      const i = (k * 7919) % n;
      t = performance.now();
      wait = synced();
      proxier.onEvent(sliceEvent(i, k));
      await wait;
      change.push(performance.now() - t);
    }
    const add: number[] = [];
    for (let k = 0; k < ADDS; k++) {
      t = performance.now();
      wait = synced();
      proxier.onEvent(serviceEvent(n + k));
      proxier.onEvent(sliceEvent(n + k));
      await wait;
      add.push(performance.now() - t);
    }
    await proxier.stop();
    t = performance.now();
    const verify = await ebpf.sync({ table: proxier.table, changes: [] }, { full: false, verify: true });
    const verifyMs = performance.now() - t;
    if (verify.failed.length || ebpf.lastSync.ops !== 0) throw new Error(`verify found work: ${ebpf.lastSync.ops} ops`);
    // services map entries as read back from the kernel: slot 0 + one per backend slot.
    const entries = (await ebpf.inspect()).reduce((s, r) => s + 1 + r.backends.length, 0);
    console.log(JSON.stringify({
      services: n, endpointsPerService: ENDPOINTS, mapEntries: entries,
      loadMs: +loadMs.toFixed(0), ingestMs: +ingestMs.toFixed(1), fullSyncMs: +fullMs.toFixed(1), verifyMs: +verifyMs.toFixed(1),
      changeP50: +pct(change, 50).toFixed(2), changeP99: +pct(change, 99).toFixed(2), changeMax: +Math.max(...change).toFixed(2),
      addP50: +pct(add, 50).toFixed(2), addP99: +pct(add, 99).toFixed(2),
      fullSplit, heapEndMB: heapMB(), rssStartMB: rss0, rssAfterFullMB: rssFull, rssEndMB: rssMB(),
    }));
  } finally {
    await proxier.stop();
    await ebpf.cleanup().catch(() => undefined);
    await deleteNetns(ns);
  }
}

interface Row {
  services: number; mapEntries: number; loadMs: number; ingestMs: number; fullSyncMs: number; verifyMs: number;
  changeP50: number; changeP99: number; changeMax: number; addP50: number; addP99: number;
  rssStartMB: number; rssAfterFullMB: number; rssEndMB: number; heapEndMB: number;
  fullSplit: { renderMs: number; diffMs: number; applyMs: number };
}

function outer(sizes: number[]): void {
  const self = fileURLToPath(import.meta.url);
  const rows: Row[] = [];
  for (const n of sizes) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--expose-gc', '--max-old-space-size=4096', self, '--inner', String(n)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    rows.push(JSON.parse(out.trim().split('\n').pop()!) as Row);
  }
  console.log(`ebpf control plane, ${ENDPOINTS} endpoints per service; change = one endpoint replaced (${CHANGES} changes), add = one new service (${ADDS} adds)`);
  console.log('services  map entries  load ms  ingest ms  full sync ms (render/diff/apply)  verify ms  change p50/p99/max ms  add p50/p99 ms  RSS MB start/full/end  heap MB');
  for (const r of rows) {
    const split = `${r.fullSplit.renderMs.toFixed(0)}/${r.fullSplit.diffMs.toFixed(0)}/${r.fullSplit.applyMs.toFixed(0)}`;
    console.log(
      `${String(r.services).padStart(8)}  ${String(r.mapEntries).padStart(11)}  ${String(r.loadMs).padStart(7)}  ${r.ingestMs.toFixed(0).padStart(9)}  ` +
        `${`${r.fullSyncMs.toFixed(0)} (${split})`.padStart(32)}  ${r.verifyMs.toFixed(0).padStart(9)}  ` +
        `${`${r.changeP50}/${r.changeP99}/${r.changeMax}`.padStart(21)}  ${`${r.addP50}/${r.addP99}`.padStart(14)}  ${`${r.rssStartMB}/${r.rssAfterFullMB}/${r.rssEndMB}`.padStart(21)}  ${String(r.heapEndMB).padStart(7)}`,
    );
  }
  const at = (n: number) => rows.find((r) => r.services === n);
  const targets: Array<[string, number | undefined, number, string]> = [
    ['one endpoint change → maps written, p99 at 10k', at(10_000)?.changeP99, 10, 'ms'],
    ['one endpoint change → maps written, p99 at 100k', at(100_000)?.changeP99, 20, 'ms'],
    ['add one service at 10k, p99', at(10_000)?.addP99, 10, 'ms'],
    ['full sync at 10k (first sync)', at(10_000)?.fullSyncMs, 500, 'ms'],
    ['full sync at 100k (first sync)', at(100_000)?.fullSyncMs, 5000, 'ms'],
    ['controller RSS at 10k', at(10_000)?.rssEndMB, 200, 'MB'],
    ['controller RSS at 100k', at(100_000)?.rssEndMB, 1024, 'MB'],
  ];
  console.log('\ntargets (issue 10):');
  for (const [what, got, max, unit] of targets)
    console.log(`  ${got === undefined ? 'not run' : got <= max ? 'MET   ' : 'MISSED'}  ${what}: ${got ?? '-'} ${unit} (target ≤ ${max} ${unit})`);
}

const argv = process.argv.slice(2);
if (argv[0] === '--inner') await inner(Number(argv[1]));
else outer(argv.map(Number).filter((x) => x > 0).length ? argv.map(Number).filter((x) => x > 0) : [1000, 10_000, 100_000]);
