// The targets a bench run is checked against: issue 16's data-plane targets and the control-
// plane targets of the redesign (issue 10). A target whose scale was not run is "not run".
import { midMedian as median } from '../stats.js';
import type { DataRow, EbpfControlRow, TargetCheck } from './results.js';
import type { Mode } from './modes.js';

/** Median of `field` for a mode at a scale, over the rounds; undefined when not run. */
export function med(rows: readonly DataRow[], mode: Mode, scale: number, field: keyof DataRow): number | undefined {
  const xs = rows.filter((r) => r.mode === mode && r.scale === scale).map((r) => r[field] as number);
  return xs.length ? median(xs) : undefined;
}

function check(what: string, got: number | undefined, ok: (x: number) => boolean, target: string): TargetCheck {
  return { what, got: got === undefined ? null : +got.toFixed(3), target, met: got === undefined ? null : ok(got) };
}

/** Issue 10's control-plane targets, on bench/control-plane.ts's rows. */
export function controlPlaneTargets(rows: readonly Pick<EbpfControlRow, 'services' | 'changeP99' | 'addP99' | 'fullSyncMs' | 'rssEndMB'>[]): TargetCheck[] {
  const at = (n: number) => rows.find((r) => r.services === n);
  const le = (max: number) => (x: number) => x <= max;
  return [
    check('ebpf: one endpoint change → maps written, p99 at 10k (ms)', at(10_000)?.changeP99, le(10), '≤ 10 ms'),
    check('ebpf: one endpoint change → maps written, p99 at 100k (ms)', at(100_000)?.changeP99, le(20), '≤ 20 ms'),
    check('ebpf: add one service at 10k, p99 (ms)', at(10_000)?.addP99, le(10), '≤ 10 ms'),
    check('ebpf: full sync at 10k, first sync (ms)', at(10_000)?.fullSyncMs, le(500), '≤ 500 ms'),
    check('ebpf: full sync at 100k, first sync (ms)', at(100_000)?.fullSyncMs, le(5000), '≤ 5000 ms'),
    check('ebpf: controller RSS at 10k (MB)', at(10_000)?.rssEndMB, le(200), '≤ 200 MB'),
    check('ebpf: controller RSS at 100k (MB)', at(100_000)?.rssEndMB, le(1024), '≤ 1024 MB'),
  ];
}

/** max ÷ min of `field` over the rounds of a mode at a scale. */
function spread(rows: readonly DataRow[], mode: Mode, scale: number, field: keyof DataRow): number {
  const xs = rows.filter((r) => r.mode === mode && r.scale === scale).map((r) => r[field] as number);
  return xs.length ? Math.max(...xs) / Math.min(...xs) : 1;
}

const NOISY = 1.25;

export function dataPlaneTargets(rows: readonly DataRow[]): TargetCheck[] {
  const ratio = (a: Mode, b: Mode, scale: number, field: keyof DataRow) => {
    const x = med(rows, a, scale, field);
    const y = med(rows, b, scale, field);
    return x === undefined || y === undefined ? undefined : x / y;
  };
  const noisy = (t: TargetCheck, inputs: Array<[Mode, number, keyof DataRow]>): TargetCheck =>
    t.met !== null && inputs.some(([m, s, f]) => spread(rows, m, s, f) > NOISY) ? { ...t, noisy: true } : t;
  const scales = [...new Set(rows.map((r) => r.scale))].sort((a, b) => a - b);
  const top = scales[scales.length - 1];
  const p99Top = top === undefined || top === 1 ? undefined : med(rows, 'ebpf', top, 'connectP99Us');
  const p99One = med(rows, 'ebpf', 1, 'connectP99Us');
  const top_ = top ?? 1;
  return [
    noisy(check('ebpf short-connection rate at 10k ÷ no-proxy', ratio('ebpf', 'no-proxy', 10_000, 'shortRps'), (x) => x >= 0.97, '≥ 0.97'), [['ebpf', 10_000, 'shortRps'], ['no-proxy', 10_000, 'shortRps']]),
    // The same floor for tc_lb alone (no socket LB): the path of traffic from outside the node's cgroups.
    noisy(check('ebpf/tc (no socket LB) short-connection rate at 10k ÷ no-proxy', ratio('ebpf/tc', 'no-proxy', 10_000, 'shortRps'), (x) => x >= 0.97, '≥ 0.97'), [['ebpf/tc', 10_000, 'shortRps'], ['no-proxy', 10_000, 'shortRps']]),
    noisy(check('ebpf ÷ kube-proxy nftables, short-connection rate at 10k', ratio('ebpf', 'kube-proxy/nftables', 10_000, 'shortRps'), (x) => x >= 1.3, '≥ 1.3'), [['ebpf', 10_000, 'shortRps'], ['kube-proxy/nftables', 10_000, 'shortRps']]),
    noisy(check('ebpf ÷ kube-proxy iptables, short-connection rate at 10k', ratio('ebpf', 'kube-proxy/iptables', 10_000, 'shortRps'), (x) => x >= 1.5, '≥ 1.5'), [['ebpf', 10_000, 'shortRps'], ['kube-proxy/iptables', 10_000, 'shortRps']]),
    noisy(check(
      `ebpf connect p99 at ${top ?? '-'} services ÷ at 1 (30k was ${scales.includes(30_000) ? '' : 'not '}run)`,
      p99Top === undefined || p99One === undefined ? undefined : p99Top / p99One,
      (x) => x <= 1.1,
      '≤ 1.1',
    ), [['ebpf', top_, 'connectP99Us'], ['ebpf', 1, 'connectP99Us']]),
  ];
}

export function formatTargets(ts: readonly TargetCheck[]): string {
  return ts
    .map((t) => `  ${t.met === null ? 'NOT RUN' : t.met ? 'MET    ' : 'MISSED '}${t.noisy ? ' NOISY' : '      '}  ${t.what}: ${t.got ?? '-'} (target ${t.target})`)
    .join('\n');
}
