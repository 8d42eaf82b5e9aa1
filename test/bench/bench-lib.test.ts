// The bench's parsers and arithmetic, against independent references: wrk 4.1's own output
// (captured from a real run against nginx, with the two error lines wrk prints when there
// are errors added in its format), /proc/stat's documented layout (proc(5)), Prometheus
// text with and without labels, and workload mixes built by hand from known per-path costs.
import { describe, expect, it } from 'vitest';
import type { ProgSample } from '../../bench/lib/bpf-runtime.js';
import { solvePaths } from '../../bench/lib/bpf-runtime.js';
import { kernelMs, readCpuTicks } from '../../bench/lib/cpu.js';
import { parseWrk } from '../../bench/lib/load-tools.js';
import { metric } from '../../bench/lib/modes.js';
import { midMedian } from '../../bench/stats.js';

const WRK = `Running 1s test @ http://127.0.0.1:8080/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   791.10us    3.76ms  57.15ms   97.71%
    Req/Sec    10.50k     3.91k   14.49k    60.00%
  Latency Distribution
     50%  181.00us
     75%  213.00us
     90%    1.18ms
     99%   12.22ms
  10509 requests in 1.02s, 1.45MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  10332.93
Transfer/sec:      1.43MB
`;

describe('parseWrk', () => {
  it('reads the rate, the count, the latency percentiles in µs and every error', () => {
    expect(parseWrk(WRK)).toEqual({ requestsPerSec: 10332.93, requests: 10509, latencyP50Us: 181, latencyP99Us: 12220, errors: 9 });
  });
  it('names what is missing when wrk could not run', () => {
    expect(() => parseWrk('unable to connect to 127.0.0.1:8081 Connection refused')).toThrow(/no Requests\/sec/);
  });
});

describe('kernel CPU from /proc/stat', () => {
  it('takes system, irq and softirq from the cpu line, in 10 ms ticks', () => {
    // cpu user nice system idle iowait irq softirq steal
    const a = readCpuTicks('cpu  100 0 200 5000 0 10 30 0 0 0\ncpu0 1 2 3\n');
    const b = readCpuTicks('cpu  150 0 260 5100 0 12 48 0 0 0\n');
    expect(kernelMs(a, b)).toEqual({ systemMs: 600, softirqMs: 200 });
  });
});

describe('metric', () => {
  it('sums a metric over its label sets and tells absent from zero', () => {
    const text = 'x_count{ip_family="IPv4"} 3\nx_count{ip_family="IPv6"} 1\nx_sum 0.5\nx_count_other 9\n';
    expect(metric(text, 'x_count')).toBe(4);
    expect(metric(text, 'x_sum')).toBe(0.5);
    expect(metric(text, 'y')).toBeNaN();
  });
});

describe('midMedian', () => {
  it('averages the two middle values of an even count', () => {
    expect(midMedian([9889, 2947])).toBe(6418);
    expect(midMedian([3, 1, 2])).toBe(2);
  });
});

describe('solvePaths', () => {
  // Known costs: pass 250, established 900, reply 850 (bulk), keep-alive 760, new 2000 ns.
  const sample = (p: { new?: number; established?: number; reply?: number; other?: number }, ns: number): ProgSample => {
    const paths = { new: p.new ?? 0, established: p.established ?? 0, reply: p.reply ?? 0, other: p.other ?? 0 };
    return { progs: { tc_lb: { runs: paths.new + paths.established + paths.reply + paths.other, ns } }, paths };
  };
  it('recovers each path cost from the mixes', () => {
    const c = solvePaths({
      pass: sample({ other: 1000 }, 250_000),
      up: sample({ established: 10_000, reply: 5000, other: 100 }, 10_000 * 900 + 5000 * 850 + 100 * 250),
      down: sample({ established: 4000, reply: 12_000, other: 50 }, 4000 * 900 + 12_000 * 850 + 50 * 250),
      keepAlive: sample({ new: 8, established: 6000, reply: 6000 }, 12_008 * 760),
      short: sample({ new: 1000, established: 3000, reply: 4000, other: 20 }, 1000 * 2000 + 7000 * 760 + 20 * 250),
    });
    expect(c.pass).toBeCloseTo(250, 6);
    expect(c.established).toBeCloseTo(900, 6);
    expect(c.reply).toBeCloseTo(850, 6);
    expect(c.keepAlive).toBeCloseTo(760, 6);
    expect(c.new).toBeCloseTo(2000, 6);
  });
});
