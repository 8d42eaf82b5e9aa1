// The NodePort packet rate through xdp_lb (--xdp=native) next to tc_lb alone (--xdp=off), on
// its own (make bench runs the same measurement, bench/lib/xdp-pps.ts, inside bench/run.ts).
// A bench, not a test: nothing here asserts a time.
//   npx tsx bench/xdp-pps.ts [--frames 2000000] [--rounds 5]
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { measureXdpPps, summariseXdp } from './lib/xdp-pps.js';

const { values } = parseArgs({ options: { frames: { type: 'string', default: '2000000' }, rounds: { type: 'string', default: '5' } } });
const FRAMES = Number(values.frames);
const ROUNDS = Number(values.rounds);

for (const placement of await measureXdpPps({ frames: FRAMES, rounds: ROUNDS })) {
  const s = summariseXdp(placement);
  const f = (x: number) => x.toFixed(3);
  console.log(`\nNodePort UDP to a ${s.where} (eTP Cluster: DNAT + SNAT): ${FRAMES} live frames per round, ${ROUNDS} rounds alternating, ${cpus().length} CPUs`);
  console.log('path  Mpps median  Mpps min-max    delivered/sent  handled by (last round)');
  for (const mode of ['tc', 'xdp'] as const) {
    const last = placement.rounds[mode].at(-1)!;
    const m = s.mpps[mode];
    console.log(`${mode.padEnd(5)} ${f(m.median).padStart(11)}  ${f(m.min)}-${f(m.max)}  ${(last.delivered / FRAMES).toFixed(3).padStart(14)}  xdp_lb ${last.xdpPackets}, tc_lb ${last.tcPackets}`);
  }
  console.log(`ratio xdp/tc (medians): ${s.ratio.toFixed(2)}x (issue 13 target: >= 3x)`);
  console.log("where the time goes (medians over rounds): wall ns per frame sent | each program's own ns per run; the rest is the kernel (veth rings, redirects; skb build, GRO, neighbour output for tc)");
  for (const mode of ['tc', 'xdp'] as const)
    console.log(`  ${mode.padEnd(4)} wall ${s.wallNs[mode]} | ${Object.entries(s.progNs[mode]).map(([n, ns]) => `${n} ${ns}`).join(', ')}`);
}
