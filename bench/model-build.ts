// Cost of the proxier's per-sync model work: every sync rebuilds the ServiceTable from all
// Service and EndpointSlice objects and diffs it against the last applied table (instead of
// tracking changes object by object). This measures that rebuild + diff for 1k and 10k
// services × 10 endpoints, the sizes of bench/iptables-sync.ts. Pure CPU, no kernel.
// Run: npx tsx bench/model-build.ts [size ...]
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { buildServiceTable, type ClusterObjects } from '../src/model/build-table.js';
import { diffTables } from '../src/model/diff.js';

const ENDPOINTS = 10;
const RUNS = 5;

function service(i: number): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'bench', name: `svc-${i}` },
    spec: { clusterIP: `198.19.${i >> 8}.${i & 255}`, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

function slice(i: number, shift = 0): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'bench', name: `svc-${i}-abcde`, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: ENDPOINTS }, (_, j) => {
      const n = (i * ENDPOINTS + j + shift) % 65_000;
      return { addresses: [`198.18.${(n >> 8) & 255}.${n & 255}`], conditions: { ready: true, serving: true, terminating: false } };
    }),
  };
}

function objects(n: number, changed = -1): ClusterObjects {
  return {
    services: Array.from({ length: n }, (_, i) => ({ obj: service(i), source: `bench/${i}.yaml` })),
    endpointSlices: Array.from({ length: n }, (_, i) => ({ obj: slice(i, i === changed ? 5 : 0), source: `bench/${i}.yaml` })),
    nodes: [],
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function ms(f: () => void): number {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
console.log('services  build (ms)  diff, one service changed (ms)   median of', RUNS);
for (const n of sizes.length ? sizes : [1000, 10_000]) {
  const before = buildServiceTable(objects(n), { nodeName: 'node-a' }).table;
  const objs = objects(n, Math.floor(n / 2));
  const builds: number[] = [];
  const diffs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let after = before;
    builds.push(ms(() => (after = buildServiceTable(objs, { nodeName: 'node-a' }).table)));
    let updated = 0;
    diffs.push(ms(() => (updated = diffTables(before, after).updated.length)));
    if (updated !== 1) throw new Error(`expected one updated service, the diff found ${updated}`);
  }
  console.log(`${String(n).padStart(8)}  ${median(builds).toFixed(1).padStart(10)}  ${median(diffs).toFixed(1).padStart(10)}`);
}
