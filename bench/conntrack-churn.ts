// Conntrack under churn: does a storm of short flows evict, re-balance or reset long-lived,
// quiet flows? Run once with the garbage collector on and once with it off (the LRU alone,
// which is how conntrack worked before flows had lifetimes).
//   npx tsx bench/conntrack-churn.ts [--rate 10000] [--seconds 60] [--long 30] [--gc 5s]
//
// The long-lived flows are real TCP connections, client pod → ClusterIP → 3 server pods,
// through tc_lb attached by the real proxy (CLI) in the node netns. Each asks once, stays
// silent for the whole storm, then asks again on the same connection: it must get the same
// pod's answer (not re-balanced) and not a reset.
//
// The storm is generated with BPF_PROG_TEST_RUN on the attached program itself (its fd from
// the pin), so it writes the same conntrack map: every flow is a whole TCP connection, SYN,
// SYN-ACK, ACK, FIN, FIN-ACK, ACK, from its own client address:port to a second ClusterIP
// whose one endpoint does not exist (test runs deliver nothing). A real client could not open
// 10k connections/s on this 2-core machine next to everything else; a test run is the
// program's own code path on a crafted frame. Frames are patched templates: tc_lb updates
// checksums incrementally and never verifies them, so they are left as they come.
// Builds its own namespaces (bpt<5 hex>-…) and pins under /sys/fs/bpf/<prefix>-<mode>; removes all.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addon, libbpf } from '../src/backends/ebpf/libbpf.js';
import { openPinnedStats } from '../src/backends/ebpf/stats.js';
import { parseDuration } from '../src/util/duration.js';
import { ManifestDir, endpointSlice, node, service } from '../test/harness/manifests.js';
import { newRunPrefix, spawnInNetns } from '../test/harness/netns.js';
import { ProxyProcess } from '../test/harness/proxy-process.js';
import { Topology } from '../test/harness/topology.js';
import { TCP, TCP_ACK, TCP_FIN, TCP_SYN, buildPacket } from '../test/backends/ebpf/packets.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '60' },
    long: { type: 'string', default: '30' },
    gc: { type: 'string', default: '5s' },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const LONG = Number(values.long);
const GC = values.gc;
parseDuration(GC, '--gc'); // a bad value fails here, before any namespace exists
const PEERS = fileURLToPath(new URL('./churn-peers.mjs', import.meta.url));
const LONG_VIP = '198.19.1.175';
const CHURN_VIP = '198.19.1.176';
const GHOST = '198.18.1.50'; // the storm's endpoint: no pod has it
const SERVERS = ['198.18.1.2', '198.18.1.3', '198.18.1.4'];
const CT_MAX = 524288;

/** The six frames of storm flow i (54 bytes each), client 198.18.128+.x:port ↔ CHURN_VIP:80 → GHOST:9376. */
function stormTemplates(): Buffer[] {
  const c = '198.18.128.0', f = (flags: number, seq: number, ack = 0) => ({ saddr: c, daddr: CHURN_VIP, proto: TCP, sport: 1, dport: 80, flags, seq, ack });
  const r = (flags: number, seq: number, ack: number) => ({ saddr: GHOST, daddr: c, proto: TCP, sport: 9376, dport: 1, flags, seq, ack });
  return [f(TCP_SYN, 100), r(TCP_SYN | TCP_ACK, 500, 101), f(TCP_ACK, 101, 501), f(TCP_ACK | TCP_FIN, 101, 501), r(TCP_ACK | TCP_FIN, 501, 102), f(TCP_ACK, 102, 502)].map(
    (p) => buildPacket(p),
  );
}
const FORWARD = [true, false, true, true, false, true];

function stormBatch(templates: Buffer[], first: number, count: number): Buffer {
  const out = Buffer.alloc(count * 6 * 54);
  for (let n = 0; n < count; n++) {
    const i = first + n;
    const host = 128 * 256 + Math.floor(i / 50000); // 198.18.128.0 + i/50000
    const port = 10000 + (i % 50000);
    for (let k = 0; k < 6; k++) {
      const o = (n * 6 + k) * 54;
      templates[k]!.copy(out, o);
      // client address and port: source of forward frames, destination of replies
      const ipAt = o + 14 + (FORWARD[k] ? 12 : 16);
      out.writeUInt16BE(host, ipAt + 2);
      out.writeUInt16BE(port, o + 34 + (FORWARD[k] ? 0 : 2));
    }
  }
  return out;
}

interface LongResult { name?: string; error?: string }

async function runMode(topo: Topology, manifestsDir: string, pinRoot: string, gc: string) {
  const proxy = new ProxyProcess({ backend: 'ebpf', netns: topo.node('node-a').ns, manifests: manifestsDir, nodeName: 'node-a', extraArgs: ['--bpf-pin-root', pinRoot, '--conntrack-gc-interval', gc] });
  let statsFd: number | undefined;
  const client = spawn('ip', ['netns', 'exec', topo.pod('client').ns, process.execPath, PEERS, 'client', LONG_VIP, '7000', String(LONG)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await proxy.start();
    const lines: string[] = [];
    const waitLine = (prefix: string, ms: number) =>
      new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`long-lived client: no ${prefix} in ${ms} ms`)), ms);
        const check = () => {
          const l = lines.find((x) => x.startsWith(prefix));
          if (l) {
            clearTimeout(t);
            resolve(l.slice(prefix.length));
          } else setTimeout(check, 50);
        };
        check();
      });
    let buf = '';
    client.stdout!.on('data', (d) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    const before = JSON.parse(await waitLine('READY ', 30_000)) as LongResult[];
    if (before.some((r) => !r.name)) throw new Error(`long-lived flows did not open: ${JSON.stringify(before)}`);

    const prog = libbpf.getPinned(join(pinRoot, 'prog_tc_lb'));
    const ct = libbpf.getPinned(join(pinRoot, 'conntrack'));
    const counters = openPinnedStats(pinRoot)!;
    statsFd = libbpf.enableStats();
    const templates = stormTemplates();
    const s0 = counters.read();
    const p0 = libbpf.progInfo(prog);
    let maxEntries = 0;
    let flows = 0;
    const verdicts = new Array<number>(16).fill(0);
    const t0 = performance.now();
    for (let sec = 0; sec < SECONDS; sec++) {
      const batch = stormBatch(templates, flows, RATE);
      const v = await libbpf.testRunEach(prog, batch, 54);
      v.forEach((n, i) => (verdicts[i]! += n));
      flows += RATE;
      if (sec % 5 === 4) maxEntries = Math.max(maxEntries, (await addon().mapDump(ct, 16, 40, CT_MAX)).count);
      const wait = t0 + (sec + 1) * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const elapsed = (performance.now() - t0) / 1000;
    const p1 = libbpf.progInfo(prog);
    const s1 = counters.read();
    maxEntries = Math.max(maxEntries, (await addon().mapDump(ct, 16, 40, CT_MAX)).count);
    libbpf.closeFd(prog);
    libbpf.closeFd(ct);
    counters.close();

    client.stdin!.write('again\n');
    const after = JSON.parse(await waitLine('DONE ', 30_000)) as LongResult[];
    const same = after.filter((r, i) => r.name && r.name === before[i]!.name).length;
    const moved = after.filter((r, i) => r.name && r.name !== before[i]!.name).length;
    const failed = after.filter((r) => !r.name);
    const d = (k: string) => s1.packets[k]! - s0.packets[k]!;
    return {
      gc,
      flows,
      rate: flows / elapsed,
      maxEntries,
      nsPerRun: Number(p1.runTimeNs - p0.runTimeNs) / Number(p1.runCnt - p0.runCnt),
      paths: { new: d('new'), established: d('established'), reply: d('reply'), reset: d('reset') },
      drops: Object.values(s1.drops).reduce((a, b) => a + b, 0) - Object.values(s0.drops).reduce((a, b) => a + b, 0),
      dropped: verdicts[2]!,
      long: { same, moved, failed: failed.length, errors: [...new Set(failed.map((f) => f.error))] },
    };
  } finally {
    if (statsFd !== undefined) libbpf.closeFd(statsFd);
    client.kill('SIGKILL');
    await proxy.stop();
    await proxy.cleanup();
  }
}

const prefix = newRunPrefix();
const topo = new Topology(prefix);
const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
const manifests = new ManifestDir(join(work, 'm'));
try {
  await manifests.init();
  await topo.addNode('node-a', 1);
  for (const [i, ip] of SERVERS.entries()) {
    const pod = await topo.addPod(`srv-${i + 1}`, 'node-a', ip, false);
    await spawnInNetns(pod.ns, process.execPath, [PEERS, 'server', `srv-${i + 1}`, '7000'], 'LISTENING');
  }
  await topo.addPod('client', 'node-a', '198.18.1.100', false);
  await manifests.write('svc.json', [
    node('node-a', topo.node('node-a').address, '198.18.1.0/24'),
    service({ name: 'long', clusterIP: LONG_VIP, ports: [{ port: 7000, targetPort: 7000 }] }),
    endpointSlice('long', [{ port: 7000 }], SERVERS.map((ip, i) => ({ ip, pod: `srv-${i + 1}`, node: 'node-a' }))),
    service({ name: 'churn', clusterIP: CHURN_VIP, ports: [{ port: 80, targetPort: 9376 }] }),
    endpointSlice('churn', [{ port: 9376 }], [{ ip: GHOST, pod: 'ghost', node: 'node-a' }]),
  ]);
  console.log(`\nconntrack under a storm of ${RATE} new TCP flows/s for ${SECONDS} s (each a whole connection, closed with FIN),`);
  console.log(`with ${LONG} long-lived connections silent throughout; conntrack map of ${CT_MAX} entries (2 per flow)\n`);
  console.log('gc interval  flows     achieved/s  max entries  long-lived: same pod / moved / failed  tc_lb ns/run  dp_stats new / est / reply / reset  drops');
  for (const gc of [GC, '0']) {
    const r = await runMode(topo, manifests.dir, `/sys/fs/bpf/${prefix}-gc${gc.replace(/\W/g, '')}`, gc);
    console.log(
      `${(r.gc === '0' ? 'off (LRU)' : r.gc).padEnd(11)}  ${String(r.flows).padEnd(8)}  ${r.rate.toFixed(0).padStart(10)}  ${String(r.maxEntries).padStart(11)}  ` +
        `${`${r.long.same} / ${r.long.moved} / ${r.long.failed}${r.long.errors.length ? ` (${r.long.errors.join(', ')})` : ''}`.padEnd(38)}  ${r.nsPerRun.toFixed(0).padStart(12)}  ` +
        `${`${r.paths.new} / ${r.paths.established} / ${r.paths.reply} / ${r.paths.reset}`.padEnd(35)}  ${r.drops}`,
    );
  }
} finally {
  await topo.destroy();
  await rm(work, { recursive: true, force: true });
}
