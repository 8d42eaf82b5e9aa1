// iptables backend sync cost: full and partial syncs for 1k and 10k services × 10
// endpoints, in a network namespace of its own (`bpt<5hex>-bench`, deleted at the end).
// Run: npx tsx bench/iptables-sync.ts [nft|legacy:size,size ...]
//   default: nft:1000 legacy:1000,10000 — iptables-nft-restore needs > 15 min for the 10k
//   full restore on a 2-core machine (its cost grows with chains²), ask for nft:10000 to try.
// The outer process makes the namespace and re-runs this file inside it (`--inner`),
// because iptables acts on the namespace of the process that calls it.
import { fileURLToPath } from 'node:url';
import { IptablesBackend } from '../src/backends/iptables/index.js';
import type { IptablesMode } from '../src/backends/netfilter/iptables-cli.js';
import type { Endpoint, ServicePortEntry, ServiceTable } from '../src/model/types.js';
import { run } from '../src/util/exec.js';
import { endpoint, servicePort, serviceTable } from '../test/fixtures/service-table.js';
import { createNetns, deleteNetns, newRunPrefix, nsRun } from '../test/harness/netns.js';

const ENDPOINTS = 10;

function endpoints(i: number, shift = 0): Endpoint[] {
  return Array.from({ length: ENDPOINTS }, (_, j) => {
    const n = (i * ENDPOINTS + j + shift) % 65_000;
    return endpoint(`198.18.${(n >> 8) & 255}.${n & 255}`, 8080);
  });
}

function service(i: number, eps = endpoints(i)): ServicePortEntry {
  return servicePort({ namespace: 'bench', name: `svc-${i}`, port: 'http' }, { clusterIPs: [`198.19.${i >> 8}.${i & 255}`], endpoints: eps });
}

const tableOf = (svcs: ServicePortEntry[]): ServiceTable => serviceTable(svcs);

async function timed<T>(f: () => Promise<T>): Promise<number> {
  const t = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function kernelRules(mode: IptablesMode): Promise<number> {
  const out = (await run(`iptables-${mode}-save`, [], { timeoutMs: 600_000 })).stdout;
  return out.split('\n').filter((l) => l.startsWith('-A ')).length;
}

async function inner(mode: IptablesMode, sizes: number[]): Promise<void> {
  for (const n of sizes) {
    const b = new IptablesBackend({ families: [4], clusterCIDRs: ['198.18.0.0/16'], mode });
    const svcs = Array.from({ length: n }, (_, i) => service(i));
    const t0 = tableOf(svcs);
    const firstFull = await timed(() => b.sync({ table: t0, changes: [] }, { full: true }));
    const written = b.lastSync[0]!.rulesWritten;
    const rules = await kernelRules(mode);
    // Partial: one service's endpoints replaced (5 of 10 change).
    const k = Math.floor(n / 2);
    const changed = [...svcs];
    changed[k] = service(k, [...endpoints(k).slice(0, 5), ...endpoints(k, 70_000).slice(0, 5)]);
    const t1 = tableOf(changed);
    const partial = await timed(() => b.sync({ table: t1, changes: [{ key: changed[k]!.key, previous: svcs[k]!, current: changed[k]! }] }, { full: false }));
    const partialStats = b.lastSync[0]!;
    const partialBack = await timed(() => b.sync({ table: t0, changes: [{ key: changed[k]!.key, previous: changed[k]!, current: svcs[k]! }] }, { full: false }));
    const resync = await timed(() => b.sync({ table: t0, changes: [] }, { full: true }));
    console.log(
      JSON.stringify({
        mode,
        services: n,
        endpointsPerService: ENDPOINTS,
        kernelRules: rules,
        fullRulesWritten: written,
        firstFullSeconds: +firstFull.toFixed(3),
        resyncFullSeconds: +resync.toFixed(3),
        partialSeconds: +partial.toFixed(3),
        partialBackSeconds: +partialBack.toFixed(3),
        partialRulesWritten: partialStats.rulesWritten,
        partialChainsWritten: partialStats.chainsWritten,
        partialFull: partialStats.full,
      }),
    );
    await b.cleanup();
  }
}

async function outer(cases: string[]): Promise<void> {
  const ns = `${newRunPrefix()}-bench`;
  await createNetns(ns);
  try {
    const self = fileURLToPath(import.meta.url);
    const rows: Record<string, unknown>[] = [];
    for (const c of cases) {
      const [mode, sizes] = c.split(':');
      const r = await nsRun(ns, process.execPath, ['--import', 'tsx', self, '--inner', mode!, ...sizes!.split(',')], { timeoutMs: 3_600_000 });
      rows.push(...r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
    }
    console.table(rows);
  } finally {
    await deleteNetns(ns);
  }
}

const args = process.argv.slice(2);
if (args[0] === '--inner') await inner(args[1] as IptablesMode, args.slice(2).map(Number));
else await outer(args.length ? args : ['nft:1000', 'legacy:1000,10000']);
