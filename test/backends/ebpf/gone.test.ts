// Which {backend, frontend} pairs a sync orphans (pure): what the socket destroyer looks for.
import { describe, expect, it } from 'vitest';
import { PROTO_TCP, PROTO_UDP, type BackendValue } from '../../../src/backends/ebpf/abi.js';
import { goneTargets } from '../../../src/backends/ebpf/gone.js';
import { emptyState, svcKeyId, type MapState } from '../../../src/backends/ebpf/state.js';

/** A state with service port `sp`'s frontends (svc ids) and backends (id → ip). */
function state(sp: number, frontends: Array<[number, string]>, backends: Record<number, string>, proto = PROTO_UDP): MapState {
  const s = emptyState();
  for (const [svcId, vip] of frontends) {
    const key = { vip, port: 53, proto, slot: 0 };
    s.services.set(svcKeyId(key), { key, value: { backendId: sp, svcId, count: Object.keys(backends).length, flags: 0, affinityTimeout: 0 } });
  }
  for (const [id, ip] of Object.entries(backends)) s.backends.set(Number(id), { ip, port: 9376, proto, flags: 1, spId: sp } satisfies BackendValue);
  return s;
}

describe('goneTargets', () => {
  it('a deleted backend, once per frontend of its service port', () => {
    const before = state(1, [[10, '198.19.1.205'], [11, '198.19.200.1']], { 100: '198.18.1.2', 101: '198.18.1.3' });
    const after = state(1, [[10, '198.19.1.205'], [11, '198.19.200.1']], { 101: '198.18.1.3' });
    expect(goneTargets(before, [after], [100])).toEqual([
      { addr: '198.18.1.2', port: 9376, proto: PROTO_UDP, svcId: 10, spId: 1 },
      { addr: '198.18.1.2', port: 9376, proto: PROTO_UDP, svcId: 11, spId: 1 },
    ]);
  });

  it('not gone: the same address:port re-created under a new id in the same service port', () => {
    const before = state(1, [[10, '198.19.1.205']], { 100: '198.18.1.2' });
    const after = state(1, [[10, '198.19.1.205']], { 102: '198.18.1.2' });
    expect(goneTargets(before, [after], [100])).toEqual([]);
  });

  it('gone from one service port while another still lists that pod: only the first one\'s frontends', () => {
    const before = state(1, [[10, '198.19.1.205']], { 100: '198.18.1.2' }, PROTO_TCP);
    const other = state(2, [[20, '198.19.1.206']], { 200: '198.18.1.2' }, PROTO_TCP);
    const after = state(1, [[10, '198.19.1.205']], {}, PROTO_TCP);
    expect(goneTargets(before, [after, other], [100])).toEqual([{ addr: '198.18.1.2', port: 9376, proto: PROTO_TCP, svcId: 10, spId: 1 }]);
  });

  it('a whole service port deleted: its backends, for the frontends it had', () => {
    const before = state(1, [[10, '198.19.1.205']], { 100: '198.18.1.2' });
    expect(goneTargets(before, [], [100])).toHaveLength(1);
    expect(goneTargets(before, [], [])).toEqual([]);
  });
});
