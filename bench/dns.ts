// Cluster DNS under load, bpfproxy next to the real CoreDNS, one run:
// - dnsperf (Debian) against each, in turn, on the same objects from the real API server:
//   the server pinned to one core (taskset; CoreDNS with GOMAXPROCS=1), dnsperf on the
//   other. Queries/s, and latency p50/p99 from dnsperf's per-query report (-v). CoreDNS runs
//   twice: without its cache plugin, and with it (bpfproxy keeps its own answers until the
//   next object change, which is a cache of a kind, so both rows are shown).
// - the proxier's sync latency (an EndpointSlice write through the API server → the proxy's
//   "synced" log line) idle and while dnsperf floods bpfproxy's DNS: the DNS server runs in
//   its own thread, so the flood should not delay the sync loop.
//   Two query mixes: names that repeat (what clients mostly ask), and 50k distinct pod names
//   (almost every query misses bpfproxy's answer cache). Each server × mix runs --rounds
//   times, interleaved; the table gives medians and the queries/s range.
//   tsx bench/dns.ts [--seconds 10] [--rounds 3] [--services 1000] [--changes 15]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiWriter } from '../test/cluster/api-writer.js';
import { TestCluster } from '../test/cluster/cluster.js';
import { findPeers } from '../test/cluster/peers.js';
import { type ApiRelay, netnsWithApi } from '../test/cluster/relay.js';
import { dig } from '../test/dns/dig.js';
import { DNS_OBJECTS } from '../test/dns/fixture.js';
import { deleteNetns, newRunPrefix, spawnInNetns } from '../test/harness/netns.js';
import { ProxyProcess } from '../test/harness/proxy-process.js';
import { run } from '../src/util/exec.js';
import { percentile as pct } from './stats.js';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' }, services: { type: 'string', default: '1000' }, changes: { type: 'string', default: '15' } },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const SERVICES = Number(args.services);
const CHANGES = Number(args.changes);
const OURS = 53;
const COREDNS = 1053;
const COREDNS_CACHED = 1054;
const SERVER_CPU = '1';
const CLIENT_CPU = '0';

const ms = (s: number) => `${(s * 1000).toFixed(2)} ms`;

/** The query mix: Service A, headless A, SRV, PTR, a name that does not exist. */
function queries(): string {
  const lines: string[] = [];
  for (let i = 0; i < SERVICES; i += Math.max(1, Math.floor(SERVICES / 200))) lines.push(`s${i}.default.svc.cluster.local A`);
  lines.push('db.default.svc.cluster.local A', '_http._tcp.web.default.svc.cluster.local SRV', '10.2.19.198.in-addr.arpa PTR', 'nosuch.default.svc.cluster.local A');
  return `${lines.join('\n')}\n`;
}

function serviceObj(i: number): object {
  const ip = `198.19.${16 + (i >> 8)}.${i & 255}`;
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: 'default' }, spec: { clusterIP: ip, clusterIPs: [ip], ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } };
}

interface PerfResult {
  /** One dnsperf run. */
  qps: number;
  p50: number;
  p99: number;
  lost: number;
}

/** dnsperf from CPU 0 for SECONDS against port; its summary and per-query latencies. */
async function dnsperf(ns: string, port: number, file: string): Promise<PerfResult> {
  const r = await run('taskset', ['-c', CLIENT_CPU, 'ip', 'netns', 'exec', ns, 'dnsperf', '-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(SECONDS), '-c', '4', '-q', '64', '-v'], { allowFailure: true });
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const lost = Number(/Queries lost:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  // -v: "> NOERROR name type <seconds>" per answered query.
  const lat = r.stdout.split('\n').flatMap((l) => (l.startsWith('> ') ? [Number(l.trim().split(/\s+/).pop())] : [])).filter((x) => Number.isFinite(x));
  if (!Number.isFinite(qps) || lat.length === 0) throw new Error(`dnsperf gave no result:\n${r.stdout.slice(-2000)}\n${r.stderr}`);
  return { qps, p50: pct(lat, 50), p99: pct(lat, 99), lost };
}

/** Pins every thread of the processes whose command line matches to one CPU. */
async function pin(pattern: string): Promise<void> {
  const pids = (await run('pgrep', ['-f', pattern], { allowFailure: true })).stdout.split('\n').filter(Boolean);
  if (pids.length === 0) throw new Error(`no process matches ${pattern}`);
  for (const pid of pids) await run('taskset', ['-a', '-p', '-c', SERVER_CPU, pid]);
}

const { peers, reason } = findPeers();
if (!peers) throw new Error(`bench/dns.ts needs the test cluster and CoreDNS: ${reason}`);
const ns = `${newRunPrefix()}-dnsb`;
const dir = await mkdtemp(join(tmpdir(), 'bpfproxy-dnsbench-'));
const cluster = await TestCluster.start(peers);
let relay: ApiRelay | undefined;
let coredns: ChildProcess | undefined;
let proxy: ProxyProcess | undefined;
try {
  relay = await netnsWithApi(cluster, ns);
  const api = new ApiWriter(cluster);
  await api.write('dns', DNS_OBJECTS as never);
  for (let i = 0; i < SERVICES; i += 50) await api.write(`svc-${i}`, Array.from({ length: Math.min(50, SERVICES - i) }, (_, k) => serviceObj(i + k)) as never);
  const queryFile = join(dir, 'queries.txt');
  await writeFile(queryFile, queries());
  const podFile = join(dir, 'pods.txt');
  await writeFile(podFile, Array.from({ length: 50_000 }, (_, i) => `198-18-${i >> 8}-${i & 255}.default.pod.cluster.local A\n`).join(''));

  const corefile = join(dir, 'Corefile');
  const kubernetes = `  kubernetes cluster.local in-addr.arpa ip6.arpa {\n    kubeconfig ${await cluster.writeKubeconfig('coredns')} test\n    pods insecure\n    ttl 5\n  }\n`;
  await writeFile(corefile, `.:${COREDNS} {\n${kubernetes}}\n.:${COREDNS_CACHED} {\n  cache\n${kubernetes}}\n`);
  coredns = await spawnInNetns(ns, 'env', ['GOMAXPROCS=1', 'taskset', '-c', SERVER_CPU, peers.coredns, '-conf', corefile], /CoreDNS-\d/, 30_000);
  proxy = new ProxyProcess({ backend: 'iptables', netns: ns, nodeName: 'node-a', kubeconfig: await cluster.writeKubeconfig('node-a'), extraArgs: ['--dns-bind-address', `127.0.0.1:${OURS}`] });
  await proxy.start();
  await pin(`bpfproxy.js run .*--netns ${ns}`);
  for (const port of [OURS, COREDNS, COREDNS_CACHED]) {
    const last = `s${SERVICES - 1}.default.svc.cluster.local`;
    for (let i = 0; i < 100 && (await dig(ns, '127.0.0.1', port, last, 'A')).answers.length !== 1; i++) await new Promise((r) => setTimeout(r, 200));
  }

  const servers = [['bpfproxy', OURS], ['CoreDNS', COREDNS], ['CoreDNS + cache plugin', COREDNS_CACHED]] as const;
  const mixes = [['repeated names (204 distinct)', queryFile], ['distinct pod names (50k)', podFile]] as const;
  const runs = new Map<string, PerfResult[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [mix, file] of mixes) {
      for (const [name, port] of servers) {
        const r = await dnsperf(ns, port, file);
        runs.set(`${mix}|${name}`, [...(runs.get(`${mix}|${name}`) ?? []), r]);
        console.error(`round ${round + 1} ${mix} ${name}: ${r.qps.toFixed(0)} q/s`);
      }
    }
  }
  // Sync latency: a slice write, then the proxy's next "synced" line; idle, then under flood.
  const syncLatency = async (label: string): Promise<number[]> => {
    const out: number[] = [];
    for (let c = 0; c < CHANGES; c++) {
      const before = proxy!.syncs;
      const t0 = performance.now();
      await api.write('churn', [{
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: 'web-churn', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: [{ addresses: [`198.18.4.${(c % 250) + 1}`], conditions: { ready: true } }],
      }] as never);
      await proxy!.waitForSyncs(before + 1, 10_000);
      out.push((performance.now() - t0) / 1000);
      await new Promise((r) => setTimeout(r, 150)); // past --min-sync-period (100 ms), so each write is its own sync
    }
    console.error(`sync latency ${label}: ${out.map(ms).join(', ')}`);
    return out;
  };
  const idle = await syncLatency('idle');
  const flood = spawn('taskset', ['-c', CLIENT_CPU, 'ip', 'netns', 'exec', ns, 'dnsperf', '-s', '127.0.0.1', '-p', String(OURS), '-d', queryFile, '-l', String(SECONDS * 3), '-c', '4', '-q', '64'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1000)); // let the flood reach full rate before the first change
  const loaded = await syncLatency('under dnsperf');
  flood.kill('SIGINT');

  const med = (k: string, f: (r: PerfResult) => number) => pct(runs.get(k)!.map(f), 50);
  console.log(`\n## Cluster DNS: dnsperf, ${SECONDS} s × ${ROUNDS} rounds each, server on one core (CPU ${SERVER_CPU}), dnsperf on CPU ${CLIENT_CPU}; ${SERVICES + DNS_OBJECTS.length} objects\n`);
  console.log('| queries | server | queries/s, median (min–max) | p50 | p99 | lost |');
  console.log('|---|---|---|---|---|---|');
  for (const [mix] of mixes) {
    for (const [name] of servers) {
      const k = `${mix}|${name}`;
      const qps = runs.get(k)!.map((r) => r.qps);
      console.log(`| ${mix} | ${name} | ${med(k, (r) => r.qps).toFixed(0)} (${Math.min(...qps).toFixed(0)}–${Math.max(...qps).toFixed(0)}) | ${ms(med(k, (r) => r.p50))} | ${ms(med(k, (r) => r.p99))} | ${runs.get(k)!.reduce((a, r) => a + r.lost, 0)} |`);
    }
    const ours = med(`${mix}|bpfproxy`, (r) => r.qps);
    console.log(`\n${mix}: bpfproxy / CoreDNS ${(ours / med(`${mix}|CoreDNS`, (r) => r.qps)).toFixed(2)}×, / CoreDNS with its cache ${(ours / med(`${mix}|CoreDNS + cache plugin`, (r) => r.qps)).toFixed(2)}×\n`);
  }
  console.log(`\n## Sync latency (slice write → synced), ${CHANGES} changes each\n`);
  console.log('| | median | min | max |');
  console.log('|---|---|---|---|');
  for (const [label, xs] of [['idle', idle], ['dnsperf flooding bpfproxy DNS', loaded]] as const) console.log(`| ${label} | ${ms(pct(xs, 50))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} |`);
} finally {
  await proxy?.stop();
  await proxy?.cleanup().catch(() => undefined);
  coredns?.kill('SIGTERM');
  await relay?.close();
  await deleteNetns(ns);
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}
