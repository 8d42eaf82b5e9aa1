// The proxier's timing contract with backends: first sync full, changes partial,
// every sync-period a verify pass, every full-sync period a full rewrite; a failed sync
// re-sends the same diff. The backend here only records calls (the real backends have
// their own kernel tests).
import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { createMetrics } from '../../src/metrics/metrics.js';
import type { Backend, SyncOptions } from '../../src/proxier/backend.js';
import { Proxier } from '../../src/proxier/proxier.js';
import { ObjectStore } from '../../src/sources/store.js';
import type { TableDiff } from '../../src/model/types.js';

function svc(name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { clusterIP: '198.19.1.1', ports: [{ port: 80 }] } };
}

describe('Proxier', () => {
  afterEach(() => vi.useRealTimers());

  it('syncs full first, partial on change, verifies every sync-period, full every full-sync period', async () => {
    vi.useFakeTimers();
    const calls: Array<{ opts: SyncOptions; diff: TableDiff }> = [];
    let fail = false;
    const backend: Backend = {
      name: 'iptables',
      async sync(_t, diff, opts) {
        calls.push({ opts, diff });
        if (fail) throw new Error('kernel busy');
      },
      async cleanup() {},
      async inspect() {
        return [];
      },
    };
    const store = new ObjectStore();
    const p = new Proxier(backend, store, { nodeName: 'n', minSyncPeriodMs: 100, syncPeriodMs: 5000, fullSyncPeriodMs: 60_000 }, pino({ level: 'silent' }), createMetrics());
    p.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls.map((c) => c.opts)).toEqual([{ full: true, verify: true }]);

    store.apply({ type: 'ADDED', kind: 'Service', key: 'default/a', object: svc('a'), source: 'f' });
    p.onChange();
    await vi.advanceTimersByTimeAsync(200);
    expect(calls[1]).toEqual({ opts: { full: false, verify: false }, diff: { added: ['default/a/tcp'], updated: [], removed: [] } });

    await vi.advanceTimersByTimeAsync(5000);
    expect(calls[2]?.opts).toEqual({ full: false, verify: true });

    fail = true;
    store.apply({ type: 'ADDED', kind: 'Service', key: 'default/b', object: svc('b'), source: 'f' });
    p.onChange();
    await vi.advanceTimersByTimeAsync(200);
    fail = false;
    await vi.advanceTimersByTimeAsync(1100); // retry after the 1 s backoff
    const bAdds = calls.filter((c) => c.diff.added.includes('default/b/tcp'));
    expect(bAdds).toHaveLength(2); // the failed sync's diff is sent again

    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls.some((c, i) => i > 1 && c.opts.full)).toBe(true);
    await p.stop();
  });
});
