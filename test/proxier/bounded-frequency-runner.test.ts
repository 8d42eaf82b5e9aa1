import { afterEach, describe, expect, it, vi } from 'vitest';
import { BoundedFrequencyRunner } from '../../src/proxier/bounded-frequency-runner.js';

describe('BoundedFrequencyRunner', () => {
  afterEach(() => vi.useRealTimers());

  it('runs at once, then coalesces a burst into one run after minInterval', async () => {
    vi.useFakeTimers();
    const runs: number[] = [];
    const r = new BoundedFrequencyRunner(async () => void runs.push(Date.now()), { minIntervalMs: 1000, maxIntervalMs: 60_000 });
    r.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(1);
    for (let i = 0; i < 10; i++) r.request();
    await vi.advanceTimersByTimeAsync(500);
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(600);
    expect(runs).toHaveLength(2);
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(1000);
    await r.stop();
  });

  it('runs nothing before start(): requests until then become the first run', async () => {
    vi.useFakeTimers();
    let n = 0;
    const r = new BoundedFrequencyRunner(async () => void n++, { minIntervalMs: 10, maxIntervalMs: 60_000 });
    for (let i = 0; i < 5; i++) r.request(); // a source still listing
    await vi.advanceTimersByTimeAsync(5000);
    expect(n).toBe(0);
    r.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(n).toBe(1);
    await r.stop();
  });

  it('runs at least every maxInterval without requests', async () => {
    vi.useFakeTimers();
    let n = 0;
    const r = new BoundedFrequencyRunner(async () => void n++, { minIntervalMs: 10, maxIntervalMs: 1000 });
    r.start();
    await vi.advanceTimersByTimeAsync(3500);
    expect(n).toBe(4);
    await r.stop();
  });

  it('retries a failed run with backoff', async () => {
    vi.useFakeTimers();
    let n = 0;
    const r = new BoundedFrequencyRunner(
      async () => {
        n++;
        if (n < 3) throw new Error('kernel said no');
      },
      { minIntervalMs: 10, maxIntervalMs: 60_000, retryBaseMs: 100 },
    );
    r.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(n).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(n).toBe(2);
    await vi.advanceTimersByTimeAsync(200);
    expect(n).toBe(3);
    await vi.advanceTimersByTimeAsync(5000);
    expect(n).toBe(3);
    await r.stop();
  });
});
