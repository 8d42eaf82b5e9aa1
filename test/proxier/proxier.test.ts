// The proxier's contract with backends: first sync full, changes partial, every
// sync-period a verify pass, every full-sync period a full rewrite; a thrown sync re-sends
// every change, a partial failure re-sends only the failed service ports. The backend here
// only records calls (the real backends have their own kernel tests).
import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { createMetrics } from '../../src/metrics/metrics.js';
import type { Backend, SyncOptions, SyncResult, TableUpdate } from '../../src/proxier/backend.js';
import { Proxier } from '../../src/proxier/proxier.js';
import type { SourceEvent } from '../../src/sources/types.js';

function svc(name: string, port = 80): SourceEvent {
  const object = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { clusterIP: '198.19.1.1', ports: [{ port }] } };
  return { type: 'ADDED', kind: 'Service', key: `default/${name}`, object, source: 'f' };
}

interface Call {
  opts: SyncOptions;
  changes: Array<{ key: string; previous?: number; current?: number }>;
}

function recorder(behaviour: (u: TableUpdate) => SyncResult) {
  const calls: Call[] = [];
  const backend: Backend = {
    name: 'iptables',
    async sync(u, opts) {
      calls.push({ opts, changes: (u.changes ?? []).map((c) => ({ key: c.key, previous: c.previous?.port, current: c.current?.port })) });
      return behaviour(u);
    },
    async cleanup() {},
    async inspect() {
      return [];
    },
  };
  return { calls, backend };
}

const opts = { nodeName: 'n', minSyncPeriodMs: 100, syncPeriodMs: 5000, fullSyncPeriodMs: 60_000 };

describe('Proxier', () => {
  afterEach(() => vi.useRealTimers());

  it('syncs full first, partial on change, verifies every sync-period, full every full-sync period', async () => {
    vi.useFakeTimers();
    let fail = false;
    const { calls, backend } = recorder(() => {
      if (fail) throw new Error('kernel busy');
      return { failed: [] };
    });
    const metrics = createMetrics();
    const p = new Proxier(backend, opts, pino({ level: 'silent' }), metrics);
    p.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls.map((c) => c.opts)).toEqual([{ full: true, verify: true }]);

    p.onEvent(svc('a'));
    await vi.advanceTimersByTimeAsync(200);
    expect(calls[1]).toEqual({ opts: { full: false, verify: false }, changes: [{ key: 'default/a/tcp', current: 80 }] });

    await vi.advanceTimersByTimeAsync(5000);
    expect(calls[2]).toEqual({ opts: { full: false, verify: true }, changes: [] });

    fail = true;
    p.onEvent(svc('b'));
    await vi.advanceTimersByTimeAsync(200);
    fail = false;
    await vi.advanceTimersByTimeAsync(1100); // retry after the 1 s backoff
    const bAdds = calls.filter((c) => c.changes.some((x) => x.key === 'default/b/tcp'));
    expect(bAdds).toHaveLength(2); // the failed sync's change is sent again
    expect((await metrics.registry.getSingleMetric('bpfproxy_sync_proxy_rules_failures_total')!.get()).values[0]!.value).toBe(1);

    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls.some((c, i) => i > 1 && c.opts.full)).toBe(true);
    await p.stop();
  });

  it('a partial failure keeps only the failed service ports pending, with their last-applied previous', async () => {
    vi.useFakeTimers();
    let failKey: string | undefined = 'default/b/tcp';
    const { calls, backend } = recorder((u) => ({
      failed: (u.changes ?? []).filter((c) => c.key === failKey).map((c) => [c.key, 'map full'] as [string, string]),
    }));
    const metrics = createMetrics();
    const p = new Proxier(backend, opts, pino({ level: 'silent' }), metrics);
    p.start();
    await vi.advanceTimersByTimeAsync(10);
    p.onEvent(svc('a'));
    p.onEvent(svc('b'));
    await vi.advanceTimersByTimeAsync(200);
    expect(calls[1]!.changes.map((c) => c.key)).toEqual(['default/a/tcp', 'default/b/tcp']);
    expect(p.pendingKeys).toEqual(['default/b/tcp']);
    const gauge = async () => (await metrics.registry.getSingleMetric('bpfproxy_sync_failed_service_ports')!.get()).values[0]!.value;
    expect(await gauge()).toBe(1);

    // b changes again before the retry: still "added" (nothing of it was ever applied).
    p.onEvent({ ...svc('b', 81), type: 'MODIFIED' });
    failKey = undefined;
    await vi.advanceTimersByTimeAsync(1100);
    expect(calls[2]!.changes).toEqual([{ key: 'default/b/tcp', current: 81 }]);
    expect(p.pendingKeys).toEqual([]);
    expect(await gauge()).toBe(0);
    await p.stop();
  });
});
