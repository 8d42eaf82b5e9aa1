// The Kubernetes source at scale, against the real kube-apiserver + etcd (test/cluster/):
// N Services × 10 endpoints created through the API server while bpfproxy (ebpf, in a node
// namespace, --kubeconfig) watches; then one endpoint change at a time.
// Reports (one run):
// - create rate through the API server (the test driver's writes, for scale);
// - time from the last create to the kernel programmed: the proxy's own gauge of entries
//   in the backends map reaching N × 10 (polled every 50 ms: ±50 ms);
// - kubeproxy_network_programming_duration_seconds over M endpoint changes, each stamped
//   with endpoints.kubernetes.io/last-change-trigger-time just before its write and taken
//   one at a time, 1.1 s apart (past the default --min-sync-period of 1 s, which would
//   otherwise be what is measured); each change's value is the histogram's _sum delta;
// - the proxy's RSS (process_resident_memory_bytes) after the load and at the end.
//   tsx bench/cluster-scale.ts [--services 10000] [--changes 200]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCluster } from '../test/cluster/cluster.js';
import { findPeers } from '../test/cluster/peers.js';
import { ApiRelay } from '../test/cluster/relay.js';
import { createNetns, deleteNetns, newRunPrefix, nsRun } from '../test/harness/netns.js';
import { ProxyProcess } from '../test/harness/proxy-process.js';
import { percentile as pct } from './stats.js';

const { values: args } = parseArgs({ options: { services: { type: 'string', default: '10000' }, changes: { type: 'string', default: '200' } } });
const N = Number(args.services);
const CHANGES = Number(args.changes);
const ENDPOINTS = 10;
const CONCURRENCY = 16;
const METRICS = '127.0.0.1:10249';

/** Pod address k (198.18.0.0/16 from .0.1; distinct within a Service, reused across them). */
const podIP = (k: number) => `198.18.${((k + 1) >> 8) & 255}.${(k + 1) & 255}`;

function serviceObj(i: number): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: 'default' }, spec: { selector: { app: `s${i}` }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } };
}
function sliceObj(i: number, gen: number, triggerTime?: string): object {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `s${i}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': `s${i}` }, ...(triggerTime ? { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': triggerTime } } : {}) },
    addressType: 'IPv4',
    ports: [{ name: '', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: ENDPOINTS }, (_, j) => ({ addresses: [podIP(i * ENDPOINTS + j + gen * 7)], conditions: { ready: true }, nodeName: 'node-a' })),
  };
}

async function main(): Promise<void> {
  // Interrupted (Ctrl-C, a timeout): the waits throw, so `finally` still tears down the
  // namespace, the pins and the cluster.
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => (interrupted = true));
  const { peers, reason } = findPeers();
  if (!peers) throw new Error(`no test cluster: ${reason}`);
  const prefix = newRunPrefix();
  const ns = `${prefix}-scale`;
  const pinRoot = `/sys/fs/bpf/${prefix}-scale`;
  const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
  const cluster = await TestCluster.start(peers);
  const relay = new ApiRelay(cluster.apiPort, cluster.dir);
  let proxy: ProxyProcess | undefined;
  try {
    await createNetns(ns);
    await relay.open();
    await relay.intoNetns(ns);
    const post = async (path: string, body: object) => {
      const r = await cluster.request('POST', path, body);
      if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${r.text.slice(0, 300)}`);
    };
    await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } });
    proxy = new ProxyProcess({
      backend: 'ebpf', netns: ns, nodeName: 'node-a', kubeconfig: await cluster.writeKubeconfig('bench'),
      // A sync period long enough that verify syncs do not land inside the measurements.
      extraArgs: ['--bpf-pin-root', pinRoot, '--metrics-bind-address', METRICS, '--sync-period', '10m', '--min-sync-period', '1s', '--log-level', 'warn'],
    });
    proxy.launch();
    const metrics = async () => (await nsRun(ns, 'curl', ['-s', '-m', '5', `http://${METRICS}/metrics`], { allowFailure: true })).stdout;
    const metric = (text: string, name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
    };
    const backendsEntries = (text: string) => Number(/bpfproxy_bpf_map_entries\{map="backends"\} (\d+)/.exec(text)?.[1] ?? 'NaN');
    const poll = async (what: string, ok: (text: string) => boolean, timeoutMs: number, everyMs = 50) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const t = await metrics();
        if (ok(t)) return t;
        if (interrupted) throw new Error('interrupted');
        if (Date.now() > deadline) throw new Error(`timed out: ${what}\n${proxy!.logs.slice(-10).join('\n')}`);
        await new Promise((r) => setTimeout(r, everyMs));
      }
    };
    await poll('proxy up', (t) => t.includes('process_resident_memory_bytes'), 60_000, 200);
    console.error(`proxy up; creating ${N} Services × ${ENDPOINTS} endpoints`);

    // Creates: Service then its slice, CONCURRENCY at a time.
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < N && !interrupted; i = next++) {
          await post('/api/v1/namespaces/default/services', serviceObj(i));
          await post('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', sliceObj(i, 0));
        }
      }),
    );
    const lastCreate = performance.now();
    console.error(`created in ${((lastCreate - t0) / 1000).toFixed(1)} s; waiting for the kernel`);
    const loaded = await poll(`backends map at ${N * ENDPOINTS}`, (t) => backendsEntries(t) === N * ENDPOINTS, 30 * 60_000);
    const programmed = performance.now();
    const rssLoaded = metric(loaded, 'process_resident_memory_bytes');

    console.error(`programmed; ${CHANGES} endpoint changes`);
    // Endpoint changes, one at a time: each stamped just before its write.
    const latencies: number[] = [];
    let count = metric(loaded, 'kubeproxy_network_programming_duration_seconds_count');
    let sum = metric(loaded, 'kubeproxy_network_programming_duration_seconds_sum');
    for (let c = 0; c < CHANGES; c++) {
      // Spaced past --min-sync-period (1 s, the default): each change is an isolated one, not
      // one that waits for the rate limit after its predecessor's sync.
      await new Promise((r) => setTimeout(r, 1100));
      const i = (c * 7919) % N;
      const stamp = new Date().toISOString();
      const r = await cluster.request('PUT', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/s${i}-x`, sliceObj(i, c + 1, stamp));
      if (r.status !== 200) throw new Error(`PUT slice s${i}-x: ${r.status} ${r.text.slice(0, 300)}`);
      const t = await poll(`change ${c} programmed`, (x) => metric(x, 'kubeproxy_network_programming_duration_seconds_count') === count + 1, 60_000, 5);
      const s = metric(t, 'kubeproxy_network_programming_duration_seconds_sum');
      latencies.push((s - sum) * 1000);
      count += 1;
      sum = s;
    }
    const end = await metrics();
    const mb = (b: number) => `${Math.round(b / 2 ** 20)} MB`;
    console.log(`\nKubernetes source at scale: real kube-apiserver v1.37.2 + etcd, bpfproxy ebpf in a node namespace (one run)\n`);
    console.log(`| measure | value |\n|---|---|`);
    console.log(`| Services × endpoints created through the API server | ${N} × ${ENDPOINTS} (${2 * N} objects in ${((lastCreate - t0) / 1000).toFixed(1)} s, ${Math.round((2 * N) / ((lastCreate - t0) / 1000))} creates/s, ${CONCURRENCY} at a time) |`);
    console.log(`| last create → kernel programmed (backends map at ${N * ENDPOINTS}, ±50 ms) | ${((programmed - lastCreate) / 1000).toFixed(2)} s |`);
    console.log(`| network programming latency over ${CHANGES} endpoint changes, p50 / p99 / max | ${pct(latencies, 50).toFixed(1)} / ${pct(latencies, 99).toFixed(1)} / ${Math.max(...latencies).toFixed(1)} ms |`);
    console.log(`| proxy RSS after the load / at the end | ${mb(rssLoaded)} / ${mb(metric(end, 'process_resident_memory_bytes'))} |`);
    console.log(`| proxy heap used at the end | ${mb(metric(end, 'nodejs_heap_size_used_bytes'))} |`);
  } finally {
    await proxy?.stop();
    await proxy?.cleanup().catch(() => undefined);
    await relay.close();
    await deleteNetns(ns);
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
