// ns/packet of tc_lb through BPF_PROG_TEST_RUN, next to a pass-through program (the cost of
// the test-run loop itself). Run as root after `make build`:
//   npx tsx bench/ebpf-prog.ts [--repeat 100000] [--rounds 5]   (or: make bench)
// Pins under a per-run /sys/fs/bpf/bpt<random> and removes it at the end.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import * as abi from '../src/backends/ebpf/abi.js';
import { REPO_ROOT, libbpf } from '../src/backends/ebpf/libbpf.js';
import { ensureBpffs, loadDataplane, type Maps } from '../src/backends/ebpf/loader.js';
import { buildPacket, TCP, TCP_ACK, TCP_SYN } from '../test/backends/ebpf/packets.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const REPEAT = Math.max(100_000, opt('repeat', 100_000));
const ROUNDS = opt('rounds', 5);
const OBJ = path.join(REPO_ROOT, 'bpf/.output');
const CLIENT = '198.18.1.100';
const VIP = '198.19.1.175';

/** n frontends (VIP 198.19.1.175 is the first), 3 backends each, written in batches. */
async function fillServices(maps: Maps, n: number): Promise<void> {
  const svcs: Array<[abi.SvcKey, abi.SvcValue]> = [];
  const bes: Array<[abi.U32Key, abi.BackendValue]> = [];
  const rns: Array<[abi.U32Key, abi.RevNatValue]> = [];
  for (let i = 0; i < n; i++) {
    const vip = i === 0 ? VIP : `198.19.${2 + (i >> 8)}.${i & 0xff}`;
    const svcId = i + 1;
    svcs.push([{ vip, port: 80, proto: TCP, slot: 0 }, { backendId: 0, svcId, count: 3, flags: 0, affinityTimeout: 0 }]);
    rns.push([{ id: svcId }, { vip, port: 80 }]);
    for (let s = 1; s <= 3; s++) {
      const id = i * 3 + s;
      bes.push([{ id }, { ip: `198.18.${1 + (id >> 16)}.${(id >> 8) & 0xff}`, port: 9376, proto: TCP, flags: abi.BE_F_ACTIVE, svcId }]);
      svcs.push([{ vip, port: 80, proto: TCP, slot: s }, { backendId: id, svcId, count: 0, flags: 0, affinityTimeout: 0 }]);
    }
  }
  await maps.backends.updateBatch(bes);
  await maps.revNat.updateBatch(rns);
  await maps.services.updateBatch(svcs);
}

async function clear(maps: Maps): Promise<void> {
  for (const m of [maps.services, maps.backends, maps.revNat, maps.conntrack] as const) {
    const keys = (await (m as { dump(): Promise<Array<[unknown, unknown]>> }).dump()).map(([k]) => k);
    if (keys.length) await (m as { deleteBatch(k: unknown[]): Promise<unknown> }).deleteBatch(keys);
  }
}

/** Median ns/packet over ROUNDS runs of REPEAT repetitions. */
async function measure(fd: number, pkt: Buffer, expectRet: number): Promise<number> {
  const xs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const res = await libbpf.testRun(fd, pkt, { repeat: REPEAT });
    if (res.retval !== expectRet) throw new Error(`unexpected verdict ${res.retval}`);
    xs.push(res.durationNs);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

async function main(): Promise<void> {
  const pinRoot = `/sys/fs/bpf/bpt${randomBytes(3).toString('hex').slice(0, 5)}`;
  await ensureBpffs(pinRoot);
  const dp = await loadDataplane({ pinRoot, objectDir: OBJ });
  const newFlow = await libbpf.openLoad(path.join(OBJ, 'bench_tc_lb_new.bpf.o'), pinRoot);
  const pass = await libbpf.openLoad(path.join(OBJ, 'bench_pass.bpf.o'));
  const rows: Array<[string, number, number]> = [];
  try {
    const syn = buildPacket({ saddr: CLIENT, daddr: VIP, proto: TCP, sport: 40000, dport: 80, flags: TCP_SYN });
    const est = buildPacket({ saddr: CLIENT, daddr: VIP, proto: TCP, sport: 40000, dport: 80, flags: TCP_ACK, payload: Buffer.alloc(64) });
    const other = buildPacket({ saddr: CLIENT, daddr: '198.18.1.50', proto: TCP, sport: 40000, dport: 80, flags: TCP_ACK });
    const passNs = await measure(pass.programs[0]!.fd, syn, 0);
    rows.push(['pass-through (bench_pass)', 0, passNs]);
    for (const n of [1, 10_000]) {
      await clear(dp.maps);
      await fillServices(dp.maps, n);
      rows.push(['tc_lb: not a service (miss)', n, await measure(dp.tc.fd, other, 0)]);
      rows.push(['tc_lb: new flow (SYN → pick, 2×CT write, DNAT)', n, await measure(newFlow.programs[0]!.fd, syn, 0)]);
      await libbpf.testRun(dp.tc.fd, syn); // create the flow
      rows.push(['tc_lb: established flow (CT hit, DNAT)', n, await measure(dp.tc.fd, est, 0)]);
      const reply = buildPacket({ saddr: dp.maps.conntrack.lookup({ saddr: CLIENT, daddr: VIP, sport: 40000, dport: 80, proto: TCP, dir: 0 })!.natAddr, daddr: CLIENT, proto: TCP, sport: 9376, dport: 40000, flags: TCP_ACK });
      rows.push(['tc_lb: reply (reverse NAT)', n, await measure(dp.tc.fd, reply, 0)]);
    }
  } finally {
    libbpf.closeObject(newFlow.handle);
    libbpf.closeObject(pass.handle);
    dp.close();
    rmSync(pinRoot, { recursive: true, force: true });
  }
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`BPF_PROG_TEST_RUN, repeat=${REPEAT}, median of ${ROUNDS} rounds, ns/packet (and minus pass-through)\n`);
  console.log(`${'case'.padEnd(w)}  services  ns/pkt   net`);
  for (const [name, n, ns] of rows) {
    console.log(`${name.padEnd(w)}  ${String(n || '-').padStart(8)}  ${ns.toFixed(0).padStart(6)}  ${n ? (ns - passNs(rows)).toFixed(0).padStart(5) : '    -'}`);
  }
}

function passNs(rows: Array<[string, number, number]>): number {
  return rows[0]![2];
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
