// diff + apply against in-memory maps that check, after every single write, that every
// lookup the data path can make is valid: slot 0 never counts a missing slot, a slot
// never names a missing backend, a frontend always has its rev_nat entry.
import { describe, expect, it } from 'vitest';
import { SVC_F_MAGLEV, SVC_F_SRC_RANGE, type BackendValue, type LbSrcKey, type LbSrcValue, type RevNatValue, type SvcKey, type SvcMeta, type SvcValue, type U32Key } from '../../../src/backends/ebpf/abi.js';
import { apply, type ApplyMaps, type MapLike } from '../../../src/backends/ebpf/apply.js';
import { diff, PHASES } from '../../../src/backends/ebpf/diff.js';
import { type LbOptions, render } from '../../../src/backends/ebpf/render.js';
import { cloneState, emptyIds, emptyState, srcRangeId, svcKeyId, type MaglevEntry, type MapState } from '../../../src/backends/ebpf/state.js';
import { BpfError } from '../../../src/backends/ebpf/libbpf.js';
import { ep, svc, table } from './table.js';

class FakeKernel {
  state = emptyState();
  writes = 0;
  failOn?: (map: string, key: unknown) => boolean;
  violations: string[] = [];

  private check() {
    for (const { key, value } of this.state.services.values()) {
      if (key.slot !== 0) continue;
      for (let i = 1; i <= value.count; i++) {
        const s = this.state.services.get(svcKeyId({ ...key, slot: i }));
        if (!s) this.violations.push(`after write ${this.writes}: ${svcKeyId(key)} counts missing slot ${i}`);
        else if (!this.state.backends.has(s.value.backendId)) this.violations.push(`slot ${svcKeyId(s.key)} → missing backend ${s.value.backendId}`);
      }
      if (!this.state.revNat.has(value.svcId)) this.violations.push(`${svcKeyId(key)} without rev_nat ${value.svcId}`);
      // A frontend checking sources has a range to check against (its flag follows its entries).
      if (value.flags & SVC_F_SRC_RANGE && ![...this.state.srcRanges.values()].some((k) => k.svcId === value.svcId))
        this.violations.push(`after write ${this.writes}: ${svcKeyId(key)} checks sources without any lb_src_range entry`);
      // A maglev frontend with backends has its table (else it would pick at random).
      if (value.flags & SVC_F_MAGLEV && value.count > 0 && !this.state.maglev.has(value.svcId))
        this.violations.push(`after write ${this.writes}: ${svcKeyId(key)} is maglev without a table`);
    }
    // Every backend a table names exists (a table is swapped before its old backends leave).
    for (const [svcId, t] of this.state.maglev)
      for (const id of new Set(t.ids)) if (!this.state.backends.has(id)) this.violations.push(`after write ${this.writes}: maglev table of ${svcId} → missing backend ${id}`);
  }

  private map<K, V>(name: string, get: () => Map<unknown, unknown>, id: (k: K) => unknown, entry: (k: K, v: V) => unknown): MapLike<K, V> {
    const update = (k: K, v: V) => {
      if (this.failOn?.(name, k)) throw new BpfError(`map update ${name}`, 7, 'E2BIG');
      get().set(id(k), entry(k, v));
      this.writes++;
      this.check();
    };
    const del = (k: K) => {
      const had = get().delete(id(k));
      this.writes++;
      this.check();
      return had;
    };
    return {
      update,
      delete: del,
      updateBatch: async (entries) => {
        for (const [k, v] of entries) update(k, v);
        return { done: entries.length, fallback: false };
      },
      deleteBatch: async (keys) => {
        keys.forEach(del);
        return { done: keys.length, fallback: false };
      },
    };
  }

  maps(): ApplyMaps {
    return {
      services: this.map<SvcKey, SvcValue>('services', () => this.state.services, svcKeyId, (key, value) => ({ key, value })),
      backends: this.map<U32Key, BackendValue>('backends', () => this.state.backends, (k) => k.id, (_k, v) => v),
      revNat: this.map<U32Key, RevNatValue>('rev_nat', () => this.state.revNat, (k) => k.id, (_k, v) => v),
      meta: this.map<U32Key, SvcMeta>('svc_meta', () => this.state.meta, (k) => k.id, (_k, v) => v),
      srcRange: this.map<LbSrcKey, LbSrcValue>('lb_src_range', () => this.state.srcRanges, srcRangeId, (k) => k),
      maglev: {
        set: async (svcId: number, entry: MaglevEntry) => {
          if (this.failOn?.('maglev', svcId)) throw new BpfError('map update maglev', 7, 'E2BIG');
          this.state.maglev.set(svcId, entry);
          this.writes++;
          this.check();
        },
        delete: (svcId: number) => {
          const had = this.state.maglev.delete(svcId);
          this.writes++;
          this.check();
          return had;
        },
      },
    };
  }
}

/** Maglev with a small table: fast, and the same rules as the default size. */
const MAGLEV: LbOptions = { algorithm: 'maglev', tableSize: 251, seed: 'test' };

async function syncTo(k: FakeKernel, mirror: MapState, t: ReturnType<typeof table>, ids = emptyIds(), batchMin = 16, lb?: LbOptions) {
  const r = render(t, ids, { lb });
  const ops = diff(mirror, r.desired);
  const res = await apply(k.maps(), ops, mirror, { batchMin });
  return { r, ops, res };
}

const eps = (...n: number[]) => n.map((i) => ep(`198.18.1.${i}`));

describe('ebpf diff', () => {
  it('orders writes: backends, rev_nat, slots, slot 0; then deletions from slot 0 down to backends', () => {
    const cur = render(table(svc('a', { endpoints: eps(1, 2, 3) }), svc('gone', { clusterIPs: ['198.19.1.9'], endpoints: eps(4) })), emptyIds());
    const next = render(table(svc('a', { endpoints: eps(3, 5) })), cur.ids);
    const ops = diff(cur.desired, next.desired);
    const phases = ops.map((o) => o.phase);
    expect(phases).toEqual([...phases].sort((a, b) => a - b));
    expect(ops.map((o) => `${PHASES[o.phase]}:${o.map}`)).toEqual([
      'upsert backends:backends',
      'upsert slots:services', 'upsert slots:services',
      'upsert slot 0:services',
      'delete slot 0:services',
      'delete slots:services', 'delete slots:services',
      'delete backends:backends', 'delete backends:backends', 'delete backends:backends',
      'delete rev_nat:rev_nat',
      'delete svc_meta:svc_meta',
    ]);
  });

  it('a loadBalancerSourceRanges edit writes only lb_src_range entries: new ones first, stale ones last; removal deletes them', () => {
    const lb = (ranges: string[]) => svc('lbsr', { loadBalancerIPs: ['198.19.250.24'], loadBalancerSourceRanges: ranges, endpoints: eps(1) });
    const cur = render(table(lb(['198.19.200.100/32', '198.19.99.0/24'])), emptyIds());
    const next = render(table(lb(['198.19.99.0/24', '198.19.98.0/24'])), cur.ids);
    const ops = diff(cur.desired, next.desired);
    expect(ops.map((o) => `${PHASES[o.phase]} ${o.map === 'lb_src_range' ? srcRangeId(o.key) : o.map}`)).toEqual([
      'upsert lb_src_range 2|198.19.98.0/24',
      'delete lb_src_range 2|198.19.200.100/32',
    ]);
    // No ranges left: the flag goes first (slot 0), the entries after it.
    const open = render(table(lb([])), next.ids);
    expect(diff(next.desired, open.desired).map((o) => `${PHASES[o.phase]}:${o.map}`)).toEqual([
      'upsert slot 0:services', 'delete lb_src_range:lb_src_range', 'delete lb_src_range:lb_src_range',
    ]);
    const gone = diff(next.desired, render(table(), next.ids).desired);
    expect(gone.filter((o) => o.map === 'lb_src_range').map((o) => o.kind)).toEqual(['delete', 'delete']);
    expect(gone.findIndex((o) => o.map === 'lb_src_range')).toBeGreaterThan(gone.findIndex((o) => o.map === 'services' && o.kind === 'delete' && o.key.slot === 0));
  });

  it('maglev: a new table goes in after its backends and before the flag; a stale one after the flag and before its backends leave', () => {
    const cur = render(table(svc('a', { endpoints: eps(1, 2, 3) })), emptyIds());
    const on = render(table(svc('a', { endpoints: eps(1, 2, 3) })), cur.ids, { lb: MAGLEV });
    expect(diff(cur.desired, on.desired).map((o) => `${PHASES[o.phase]}:${o.map}`)).toEqual(['upsert maglev:maglev', 'upsert slot 0:services']);
    const swapped = render(table(svc('a', { endpoints: eps(2, 3, 4) })), on.ids, { lb: MAGLEV });
    const ops = diff(on.desired, swapped.desired).map((o) => `${PHASES[o.phase]}:${o.map}`);
    expect(ops.indexOf('upsert maglev:maglev')).toBeGreaterThan(ops.indexOf('upsert backends:backends'));
    expect(ops.indexOf('upsert maglev:maglev')).toBeLessThan(ops.indexOf('delete backends:backends'));
    const off = render(table(svc('a', { endpoints: eps(2, 3, 4) })), swapped.ids);
    expect(diff(swapped.desired, off.desired).map((o) => `${PHASES[o.phase]}:${o.map}`)).toEqual(['upsert slot 0:services', 'delete maglev:maglev']);
  });

  it('is empty when nothing changed', () => {
    const r = render(table(svc('a', { endpoints: eps(1, 2) })), emptyIds());
    expect(diff(cloneState(r.desired), r.desired)).toEqual([]);
  });
});

describe('ebpf apply', () => {
  it('keeps every data-path lookup valid through grow, shrink, replace and removal (per-op and batched)', async () => {
    for (const batchMin of [1_000_000, 1]) {
      const k = new FakeKernel();
      const mirror = emptyState();
      let ids = emptyIds();
      const steps = [
        table(svc('a', { endpoints: eps(1, 2, 3) }), svc('b', { clusterIPs: ['198.19.1.9'], endpoints: eps(7) })),
        table(svc('a', { endpoints: eps(1, 2, 3, 4, 5, 6) }), svc('b', { clusterIPs: ['198.19.1.9'] })),
        table(svc('a', { endpoints: eps(6) }), svc('b', { clusterIPs: ['198.19.1.9'], endpoints: eps(8, 9) })),
        table(svc('a', { endpoints: eps(10, 11), loadBalancerIPs: ['198.19.250.24'], loadBalancerSourceRanges: ['198.19.99.0/24'] })),
        table(svc('a', { endpoints: eps(10, 11), loadBalancerIPs: ['198.19.250.24'], loadBalancerSourceRanges: ['198.19.98.0/24'] })),
        table(svc('a', { endpoints: eps(10, 11), loadBalancerIPs: ['198.19.250.24'] })),
        table(svc('a', { endpoints: eps(10, 11) })),
        table(),
      ];
      for (const t of steps) {
        const { r, res } = await syncTo(k, mirror, t, ids, batchMin);
        ids = r.ids;
        expect(res.failures.size).toBe(0);
        expect(k.state).toEqual(r.desired);
        expect(mirror).toEqual(k.state);
      }
      expect(k.violations).toEqual([]);
    }
  });

  it('maglev: every lookup stays valid through tables appearing, changing, emptying and going (per-op and batched)', async () => {
    const annotated = (algorithm: 'random' | 'maglev', endpoints: ReturnType<typeof eps>) =>
      svc('m', { clusterIPs: ['198.19.1.9'], nodePort: 30090, lbAlgorithm: algorithm, endpoints });
    const node = { nodes: new Map([['node-a', { name: 'node-a', addresses: ['198.19.200.1'], podCIDRs: [] }]]) };
    for (const batchMin of [1_000_000, 1]) {
      const k = new FakeKernel();
      const mirror = emptyState();
      let ids = emptyIds();
      const steps = [
        table(svc('a', { endpoints: eps(1, 2, 3) })),
        table(svc('a', { endpoints: eps(1, 2, 3, 4) }), annotated('maglev', eps(7))),
        table(svc('a', { endpoints: eps(4) }), annotated('maglev', eps(7, 8, 9))),
        table(svc('a'), annotated('random', eps(8, 9))),
        table(svc('a', { endpoints: eps(5, 6) }), annotated('maglev', eps(10))),
        table(),
      ].map((t) => ({ ...t, ...node }));
      for (const t of steps) {
        const { r, res } = await syncTo(k, mirror, t, ids, batchMin, MAGLEV);
        ids = r.ids;
        expect(res.failures.size).toBe(0);
        expect(k.state).toEqual(r.desired);
        expect(mirror).toEqual(k.state);
      }
      expect(k.violations).toEqual([]);
    }
  });

  it('a maglev table that cannot be written fails only its service port, which keeps its previous table', async () => {
    const k = new FakeKernel();
    const mirror = emptyState();
    const first = await syncTo(k, mirror, table(svc('a', { endpoints: eps(1, 2) })), emptyIds(), 16, MAGLEV);
    const before = cloneState(k.state);
    k.failOn = (map) => map === 'maglev';
    const { res } = await syncTo(k, mirror, table(svc('a', { endpoints: eps(1, 2, 3) })), first.r.ids, 16, MAGLEV);
    expect([...res.failures.values()].map((f) => f.op)).toEqual([expect.stringMatching(/^upsert maglev maglev svc_id \d+$/)]);
    expect(k.state).toEqual(before);
    expect(mirror).toEqual(k.state);
    expect(k.violations).toEqual([]);
  });

  it('a map-full failure fails only its frontend, which keeps its previous state', async () => {
    const k = new FakeKernel();
    const mirror = emptyState();
    const first = await syncTo(k, mirror, table(svc('a', { endpoints: eps(1) }), svc('b', { clusterIPs: ['198.19.1.9'], endpoints: eps(5) })));
    const before = cloneState(k.state);
    // Slot 2 of frontend a cannot be written (map full).
    k.failOn = (map, key) => map === 'services' && (key as SvcKey).vip === '198.19.1.175' && (key as SvcKey).slot === 2;
    const { res } = await syncTo(k, mirror, table(svc('a', { endpoints: eps(1, 2) }), svc('b', { clusterIPs: ['198.19.1.9'], endpoints: eps(5, 6) })), first.r.ids);
    expect([...res.failures.values()].map((f) => f.op)).toEqual([expect.stringMatching(/upsert slots services 198\.19\.1\.175:80\/TCP#2/)]);
    const aKeys = (s: MapState) => [...s.services.keys()].filter((x) => x.startsWith('198.19.1.175')).sort();
    expect(aKeys(k.state)).toEqual(aKeys(before));
    expect(k.state.services.get('198.19.1.175:80/TCP#0')).toEqual(before.services.get('198.19.1.175:80/TCP#0'));
    expect(k.state.services.get('198.19.1.9:80/TCP#0')!.value.count).toBe(2);
    expect(mirror).toEqual(k.state);
    expect(k.violations).toEqual([]);
  });
});
