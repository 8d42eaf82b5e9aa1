// The real load generators, run in the client pod's namespace: wrk (request rates and their
// latency), curl (connect time, timed by curl itself), iperf3 (bulk throughput).
import { nsRunInCgroup } from '../../test/harness/cgroup.js';
import { percentile } from '../stats.js';

/** Where a load tool runs: the client pod's namespace, and a cgroup (v2) of its processes when
 * the proxy's socket LB is attached to one (as a node's pods are under its cgroup root). */
export interface Client {
  ns: string;
  cgroup?: string;
}

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  /** wrk's latency distribution (request sent → response read), µs. */
  latencyP50Us: number;
  latencyP99Us: number;
  /** Socket errors (connect/read/write/timeout) and non-2xx responses. */
  errors: number;
}

const UNIT_US: Record<string, number> = { us: 1, ms: 1000, s: 1e6 };

/** wrk's text report → numbers. Throws, naming the line, on output it does not recognise. */
export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp, what: string) => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk output has no ${what}:\n${out}`);
    return m;
  };
  const lat = (p: string) => {
    const m = num(new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm'), `${p}% latency`);
    return Number(m[1]) * UNIT_US[m[2]!]!;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = (sock ? sock.slice(1, 5).reduce((s, x) => s + Number(x), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return {
    requestsPerSec: Number(num(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec')[1]),
    requests: Number(num(/^\s*(\d+) requests in /m, 'request count')[1]),
    latencyP50Us: lat('50'),
    latencyP99Us: lat('99'),
    errors,
  };
}

/** wrk for `seconds` with `connections` connections on one thread; `close`: Connection: close (a new connection per request). */
export async function wrk(c: Client, url: string, o: { seconds: number; connections: number; close: boolean }): Promise<WrkResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--latency', '--timeout', '2s', ...(o.close ? ['-H', 'Connection: close'] : []), url];
  const r = await nsRunInCgroup(c.cgroup, c.ns, 'wrk', args, { timeoutMs: (o.seconds + 30) * 1000 });
  return parseWrk(r.stdout);
}

export interface ConnectLatency {
  samples: number;
  p50Us: number;
  p99Us: number;
}

/**
 * `count` sequential connections by one curl (a URL range, Connection: close so none is
 * reused): curl's own %{time_connect} of each, SYN sent → connect() returned.
 */
export async function connectLatency(c: Client, hostPort: string, count: number): Promise<ConnectLatency> {
  const r = await nsRunInCgroup(c.cgroup, c.ns, 'curl', ['-s', '-o', '/dev/null', '-H', 'Connection: close', '--max-time', '2', '-w', '%{http_code} %{time_connect}\n', `http://${hostPort}/[1-${count}]`], {
    timeoutMs: 120_000,
    allowFailure: true,
  });
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  const ok = lines.filter((l) => l.startsWith('200 ')).map((l) => Number(l.split(' ')[1]) * 1e6);
  if (ok.length < count) throw new Error(`curl to ${hostPort}: ${count - ok.length} of ${count} connections failed (exit ${r.code}): ${lines.find((l) => !l.startsWith('200 ')) ?? r.stderr}`);
  return { samples: ok.length, p50Us: percentile(ok, 50), p99Us: percentile(ok, 99) };
}

/** iperf3 for `seconds`, one flow; `reverse`: -R (server → client). Gbit/s received. */
export async function iperf(c: Client, target: string, seconds: number, reverse: boolean): Promise<number> {
  const args = ['-c', target, '-p', '5201', '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])];
  const j = JSON.parse((await nsRunInCgroup(c.cgroup, c.ns, 'iperf3', args, { timeoutMs: (seconds + 30) * 1000 })).stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}
