// Maglev through the real tc_lb (BPF_PROG_TEST_RUN):
//  1. the data path on hand-seeded maps: C's flow hash and index agree with the TS twin,
//     affinity wins, tracked flows keep their backend across a table swap, no table = random;
//  2. the whole control plane (EbpfBackend → maps → tc_lb): two independently loaded "nodes"
//     pick the same backend for the same 10,000 flows, and removing one of 10 backends moves
//     few of the other backends' flows (measured and printed).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { flowHash, type FiveTuple } from '../../../src/backends/ebpf/flow-hash.js';
import { EbpfBackend } from '../../../src/backends/ebpf/index.js';
import { BpfMap, libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { Dataplane } from '../../../src/backends/ebpf/loader.js';
import { flowSeedOf, maglevTable } from '../../../src/backends/ebpf/maglev.js';
import { MaglevMaps } from '../../../src/backends/ebpf/maglev-maps.js';
import type { LbOptions } from '../../../src/backends/ebpf/render.js';
import { maglevEntry } from '../../../src/backends/ebpf/state.js';
import type { ServiceTable } from '../../../src/model/types.js';
import { createNetns, deleteNetns, newRunPrefix } from '../../harness/netns.js';
import { describeKernel } from '../../kernel-required.js';
import { OBJECT_DIR, buildMissingReason, seedService, useTestDataplane } from './fixtures.js';
import { TCP, TCP_ACK, TCP_SYN, buildPacket, parsePacket, type PacketSpec } from './packets.js';
import { ep, svc, table } from './table.js';
import { prng } from '../../harness/prng.js';

const VIP = '198.19.1.175';
const CLIENT = '198.18.100.1';
const TC_ACT_SHOT = 2;

/** `n` distinct TCP flows to VIP:80 from clients in 198.18.100.0/22 (no backend among them). */
function syntheticFlows(n: number, seed: number): FiveTuple[] {
  const r = prng(seed);
  const seen = new Set<string>();
  const out: FiveTuple[] = [];
  while (out.length < n) {
    const host = Math.floor(r() * 1024);
    const t = { saddr: `198.18.${100 + (host >> 8)}.${host & 255}`, daddr: VIP, sport: 1024 + Math.floor(r() * 64512), dport: 80, proto: TCP };
    const k = `${t.saddr}:${t.sport}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(t);
    }
  }
  return out;
}

const synOf = (t: FiveTuple, extra: Partial<PacketSpec> = {}): PacketSpec => ({ ...t, flags: TCP_SYN, seq: 5000, ...extra });

describeKernel('tc_lb maglev: the data path on seeded maps', () => {
  let dp: Dataplane;
  useTestDataplane((d) => (dp = d));
  const M = 251;
  const SEED = 0x5eed;
  /** Backend id i (1..251) is 198.18.1.i, so the address names the id. */
  const backends = Array.from({ length: M }, (_, i) => ({ id: i + 1, ip: `198.18.1.${i + 1}`, port: 9376 }));

  /** The 251 backends in slots, a maglev table slot i → id tableOf(i), and maglev_cfg. */
  async function seed(flags: number, tableOf?: (slot: number) => number) {
    seedService(dp.maps, { vip: VIP, port: 80, proto: TCP, svcId: 7, backends, flags, affinityTimeout: flags & abi.SVC_F_AFFINITY ? 10800 : 0 });
    const mm = new MaglevMaps(dp.maps.maglev, dp.maps.maglevCfg);
    await mm.configure({ tableSize: M, flowSeed: SEED });
    if (tableOf) await mm.set(7, maglevEntry(Uint32Array.from({ length: M }, (_, i) => tableOf(i))));
    return mm;
  }
  async function backendOf(spec: PacketSpec): Promise<string> {
    const r = await libbpf.testRun(dp.tc.fd, buildPacket(spec));
    expect(r.retval).not.toBe(TC_ACT_SHOT);
    return parsePacket(r.dataOut).daddr;
  }
  const flows = syntheticFlows(300, 1);

  it('new flows take table[flow_hash % M]: C and the TS flow hash agree on every flow', async () => {
    const mm = await seed(abi.SVC_F_MAGLEV, (i) => i + 1);
    try {
      for (const t of flows) expect(await backendOf(synOf(t))).toBe(`198.18.1.${(flowHash(t, SEED) % M) + 1}`);
    } finally {
      mm.close();
    }
  });

  it('ClientIP affinity wins over the table', async () => {
    const mm = await seed(abi.SVC_F_MAGLEV | abi.SVC_F_AFFINITY, (i) => i + 1);
    try {
      const first = { ...flows[0]!, saddr: CLIENT };
      expect(await backendOf(synOf(first))).toBe(`198.18.1.${(flowHash(first, SEED) % M) + 1}`);
      // The client's later flows hash elsewhere, yet all go where its first one went.
      const later = flows.slice(1, 40).map((t) => ({ ...t, saddr: CLIENT }));
      expect(later.some((t) => flowHash(t, SEED) % M !== flowHash(first, SEED) % M)).toBe(true);
      for (const t of later) expect(await backendOf(synOf(t))).toBe(`198.18.1.${(flowHash(first, SEED) % M) + 1}`);
    } finally {
      mm.close();
    }
  });

  it('a tracked flow keeps its backend when the table is swapped; new flows follow the new table', async () => {
    const mm = await seed(abi.SVC_F_MAGLEV, () => 1);
    try {
      const t = flows[0]!;
      expect(await backendOf(synOf(t))).toBe('198.18.1.1');
      await mm.set(7, maglevEntry(new Uint32Array(M).fill(2)));
      expect(await backendOf(synOf(t, { flags: TCP_ACK, seq: 5001, ack: 1 }))).toBe('198.18.1.1');
      expect(await backendOf(synOf(flows[1]!))).toBe('198.18.1.2');
    } finally {
      mm.close();
    }
  });

  it('a maglev frontend without a table picks a random slot; a random frontend never reads a table', async () => {
    const mm = await seed(abi.SVC_F_MAGLEV);
    try {
      const seen = new Set<string>();
      for (const t of flows.slice(0, 30)) seen.add(await backendOf(synOf(t)));
      expect(seen.size).toBeGreaterThan(1);
      // Flag off, a table naming only backend 1: the slots decide.
      seedService(dp.maps, { vip: VIP, port: 80, proto: TCP, svcId: 7, backends, flags: 0 });
      await mm.set(7, maglevEntry(new Uint32Array(M).fill(1)));
      const picked = new Set<string>();
      for (const t of flows.slice(30, 60)) picked.add(await backendOf(synOf(t)));
      expect(picked.size).toBeGreaterThan(1);
    } finally {
      mm.close();
    }
  });
}, { btf: true });

describeKernel('maglev through the control plane: two nodes, and one backend leaving', () => {
  const prefix = newRunPrefix();
  const nodes = ['a', 'b'] as const;
  const LB: LbOptions = { algorithm: 'maglev', tableSize: abi.MAGLEV_SIZE_DEFAULT, seed: 'two-nodes' };
  const N = 10;
  const ips = Array.from({ length: N }, (_, i) => `198.18.1.${11 + i}`);
  const flows = syntheticFlows(10_000, 2);
  const backendsOf: Record<string, EbpfBackend> = {};
  const pinRoot = (n: string) => `/sys/fs/bpf/${prefix}-${n}`;
  const make = (n: string, lb = LB) =>
    new EbpfBackend({ pinRoot: pinRoot(n), bpfObjectDir: OBJECT_DIR, netns: `/run/netns/${prefix}-${n}`, watchLinks: false, interfacePollMs: 0, conntrackGcIntervalMs: 0, lb });
  const service = (addresses: string[]): ServiceTable => table(svc('hostnames', { endpoints: addresses.map((ip) => ep(ip)) }));

  beforeAll(async () => {
    const missing = buildMissingReason();
    if (missing) throw new Error(missing);
    for (const n of nodes) {
      await createNetns(`${prefix}-${n}`);
      backendsOf[n] = make(n);
    }
    // Node b saw another Service first: its svc_ids and backend ids all differ from node a's.
    await backendsOf.b!.sync({ table: table(svc('other', { clusterIPs: ['198.19.1.9'], endpoints: [ep('198.18.2.1'), ep('198.18.2.2')] })) }, { full: true });
    for (const n of nodes) expect((await backendsOf[n]!.sync({ table: service(ips) }, { full: true })).failed).toEqual([]);
  });

  afterAll(async () => {
    for (const n of nodes) {
      try {
        await backendsOf[n]?.cleanup();
      } finally {
        await deleteNetns(`${prefix}-${n}`);
      }
    }
  });

  /** Runs every flow's SYN through node n's pinned tc_lb (conntrack emptied first); the backend each got. */
  async function choices(n: string): Promise<string[]> {
    const fd = libbpf.getPinned(path.join(pinRoot(n), 'prog_tc_lb'));
    const ct = libbpf.getPinned(path.join(pinRoot(n), 'conntrack'));
    try {
      const conntrack = new BpfMap('conntrack', ct, abi.ctKey, abi.ctValue, libbpf.mapInfo(ct).maxEntries);
      await conntrack.deleteBatch((await conntrack.dump()).map(([k]) => k));
      const frames = Buffer.concat(flows.map((t) => buildPacket(synOf(t))));
      const verdicts = await libbpf.testRunEach(fd, frames, frames.length / flows.length);
      expect(verdicts[TC_ACT_SHOT]).toBe(0);
      const got = new Map<string, string>();
      for (const [k, v] of await conntrack.dump()) if (!(v.flags & abi.CT_F_REPLY)) got.set(`${k.saddr}:${k.sport}`, `${v.natAddr}:${v.natPort}`);
      return flows.map((t) => got.get(`${t.saddr}:${t.sport}`) ?? 'untracked');
    } finally {
      libbpf.closeFd(fd);
      libbpf.closeFd(ct);
    }
  }

  /** What the TS side predicts: table (by name) at flow_hash % M. */
  function predicted(addresses: string[], seedString = LB.seed): string[] {
    const { order, entry } = maglevTable(addresses.map((ip) => `${ip}:9376`), LB.tableSize, seedString);
    const seed = flowSeedOf(seedString);
    return flows.map((t) => order[entry[flowHash(t, seed) % LB.tableSize]!]!);
  }

  it('two nodes with their own maps and ids pick the same backend for each of 10,000 flows, the one TS predicts', async () => {
    const a = await choices('a');
    const b = await choices('b');
    expect(new Set(a).size).toBe(N);
    expect(b).toEqual(a);
    expect(a).toEqual(predicted(ips));
  });

  it(`one of ${N} backends leaves: its flows spread over the others, and at most 1/N of the others' flows move`, async () => {
    const before = await choices('a');
    const gone = `${ips[4]!}:9376`;
    expect((await backendsOf.a!.sync({ table: service(ips.filter((_, i) => i !== 4)) }, { full: false })).failed).toEqual([]);
    const after = await choices('a');
    expect(after).toEqual(predicted(ips.filter((_, i) => i !== 4)));
    expect(after).not.toContain(gone);
    const others = before.map((b, i) => [b, after[i]!] as const).filter(([b]) => b !== gone);
    const moved = others.filter(([b, a]) => a !== b).length / others.length;
    const movedAll = before.filter((b, i) => after[i] !== b).length / before.length;
    console.log(
      `maglev disruption (kernel, M=${LB.tableSize}, N=${N}→${N - 1}, ${flows.length} flows): ` +
        `${(moved * 100).toFixed(2)}% of the other backends' flows moved; ${(movedAll * 100).toFixed(2)}% of all flows (the leaver held ${((before.length - others.length) / before.length * 100).toFixed(2)}%)`,
    );
    expect(moved).toBeLessThanOrEqual(1 / N);
  });

  it('a restarted proxy adopts the tables (no write); another seed replaces them', async () => {
    const current = ips.filter((_, i) => i !== 4);
    await backendsOf.a!.close();
    backendsOf.a = make('a');
    await backendsOf.a.sync({ table: service(current) }, { full: true });
    expect(backendsOf.a.lastSync.ops).toBe(0);
    expect(await choices('a')).toEqual(predicted(current));
    await backendsOf.a.close();
    backendsOf.a = make('a', { ...LB, seed: 'another' });
    await backendsOf.a.sync({ table: service(current) }, { full: true });
    expect(backendsOf.a.lastSync.ops).toBe(1); // the table, swapped in whole
    const reseeded = await choices('a');
    expect(reseeded).toEqual(predicted(current, 'another'));
    expect(reseeded).not.toEqual(predicted(current));
  });
}, { btf: true });
