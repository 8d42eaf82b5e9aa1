// The report's charts: Vega-Lite specs compiled to Vega and rendered to SVG in Node (no
// browser; vega's 'none' renderer measures text with its built-in estimate).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { midMedian as median } from '../stats.js';
import { MODES } from './modes.js';
import type { BenchResults, DataRow } from './results.js';

const IN_PROCESS = 'ebpf in-process (no API server)';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const WIDTH = 480;
const HEIGHT = 280;

/** Medians over rounds of `field`, one point per mode and scale. */
function medians(rows: readonly DataRow[], field: keyof DataRow): Array<{ mode: string; services: number; value: number }> {
  const keys = new Map<string, DataRow[]>();
  for (const r of rows) {
    if (typeof r[field] !== 'number') continue;
    const k = `${r.mode}|${r.scale}`;
    keys.set(k, [...(keys.get(k) ?? []), r]);
  }
  return [...keys.values()].map((rs) => ({ mode: rs[0]!.mode, services: rs[0]!.scale, value: median(rs.map((r) => r[field] as number)) }));
}

/** One line per proxy over the number of services (log x); `column`: one panel per value of that field. */
function lines(title: string, data: object[], y: string, o: { logY?: boolean; column?: string } = {}): TopLevelSpec {
  const encoding = {
    x: { field: 'services', type: 'quantitative', scale: { type: 'log' }, title: 'services installed (× 10 endpoints)' },
    y: { field: 'value', type: 'quantitative', title: y, ...(o.logY ? { scale: { type: 'log' } } : {}) },
    // One colour per proxy in every chart, whichever of them a chart has.
    color: { field: 'mode', type: 'nominal', title: 'proxy', scale: { domain: [...MODES, IN_PROCESS] }, legend: { labelLimit: 300 } },
  };
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, background: 'white', data: { values: data } };
  if (!o.column) return { ...base, width: WIDTH, height: HEIGHT, mark: { type: 'line', point: true }, encoding } as TopLevelSpec;
  return {
    ...base,
    facet: { column: { field: o.column, type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: { width: WIDTH / 2 + 40, height: HEIGHT, mark: { type: 'line', point: true }, encoding },
  } as TopLevelSpec;
}

export async function charts(r: BenchResults): Promise<Record<string, string>> {
  const rows = r.dataplane;
  const connect = [
    ...medians(rows, 'connectP50Us').map((d) => ({ ...d, percentile: 'p50' })),
    ...medians(rows, 'connectP99Us').map((d) => ({ ...d, percentile: 'p99' })),
  ];
  const sync = [
    ...medians(rows.filter((x) => x.mode !== 'no-proxy'), 'startToSyncMs'),
    ...r.ebpfControlPlane.map((c) => ({ mode: IN_PROCESS, services: c.services, value: c.fullSyncMs })),
  ];
  const paths = r.perPacket.flatMap((p) => (['pass', 'new', 'keepAlive', 'established', 'reply'] as const).map((k) => ({ path: k, scale: p.scale, ns: p.paths[k] })));
  const byPath = [...new Set(paths.map((p) => `${p.path}|${p.scale}`))].map((k) => {
    const [path, scale] = k.split('|');
    return { path, services: Number(scale), ns: median(paths.filter((p) => p.path === path && p.scale === Number(scale)).map((p) => p.ns)) };
  });
  // North-south NodePort, established flow: tc_lb alone and xdp_lb, over both backend placements.
  const xdp = r.xdp ?? [];
  const nodePort = (label: string, mode: 'tc' | 'xdp', prog: string) => {
    const xs = xdp.flatMap((p) => p.rounds[mode].map((x) => x.progNs[prog])).filter((x): x is number => typeof x === 'number');
    return xs.length ? [{ path: label, services: 1, ns: median(xs) }] : [];
  };
  byPath.push(...nodePort('NodePort tc_lb', 'tc', 'tc_lb'), ...nodePort('NodePort xdp_lb', 'xdp', 'xdp_lb'));
  const nsSpec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'ns/packet by path (BPF run-time stats); NodePort: established UDP, tc_lb alone vs xdp_lb',
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    data: { values: byPath },
    mark: 'bar',
    encoding: {
      x: { field: 'path', type: 'nominal', sort: ['pass', 'new', 'keepAlive', 'established', 'reply', 'NodePort tc_lb', 'NodePort xdp_lb'], title: 'path' },
      xOffset: { field: 'services', type: 'nominal' },
      y: { field: 'ns', type: 'quantitative', title: 'ns per packet (median over rounds)' },
      color: { field: 'services', type: 'nominal', title: 'services' },
    },
  };
  return {
    'connect-latency.svg': await renderSvg(lines('Connect latency (curl time_connect) vs services', connect, 'µs', { column: 'percentile' })),
    'short-connection-rate.svg': await renderSvg(lines('Short connections (wrk, Connection: close, 8 conns) vs services', medians(rows, 'shortRps'), 'requests/s')),
    'sync-time.svg': await renderSvg(lines('Full sync: proxy start → first sync (API server); ebpf in-process: first sync alone', sync, 'ms', { logY: true })),
    'ns-per-packet.svg': await renderSvg(nsSpec),
  };
}
