// render() with --lb-algorithm / the annotation: which frontends get SVC_F_MAGLEV and a
// table, what the table holds, and what `bpfproxy render` / inspect show of it.
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { inspectRows } from '../../../src/backends/ebpf/index.js';
import { maglevTable } from '../../../src/backends/ebpf/maglev.js';
import { DEFAULT_LB, type LbOptions, render } from '../../../src/backends/ebpf/render.js';
import { renderText } from '../../../src/backends/ebpf/render-text.js';
import { emptyIds, type MapState } from '../../../src/backends/ebpf/state.js';
import { formatInspect } from '../../../src/cli/inspect.js';
import type { ServiceTable } from '../../../src/model/types.js';
import { ep, svc, table } from './table.js';

const VIP = '198.19.1.175';
const NODE_IP = '198.19.200.1';
const MAGLEV: LbOptions = { algorithm: 'maglev', tableSize: 251, seed: 'test' };
const eps = (...n: number[]) => n.map((i) => ep(`198.18.1.${i}`));

function withNode(t: ServiceTable): ServiceTable {
  return { ...t, nodes: new Map([['node-a', { name: 'node-a', addresses: [NODE_IP], podCIDRs: [] }]]) };
}

const slot0 = (s: MapState, fid: string) => s.services.get(`${fid}#0`)!.value;
/** The table of a frontend as ip:port per slot. */
const names = (s: MapState, svcId: number) => [...s.maglev.get(svcId)!.ids].map((id) => `${s.backends.get(id)!.ip}:${s.backends.get(id)!.port}`);

describe('ebpf render: maglev', () => {
  it('random by default: no flag, no table', () => {
    const r = render(table(svc('s', { endpoints: eps(11, 12) })), emptyIds());
    expect(slot0(r.desired, `${VIP}:80/TCP`).flags & abi.SVC_F_MAGLEV).toBe(0);
    expect(r.desired.maglev.size).toBe(0);
  });

  it('--lb-algorithm=maglev: SVC_F_MAGLEV and a table of M slots over the frontend\'s backends, by ip:port', () => {
    const r = render(table(svc('s', { endpoints: eps(11, 12, 13) })), emptyIds(), { lb: MAGLEV });
    const s0 = slot0(r.desired, `${VIP}:80/TCP`);
    expect(s0.flags).toBe(abi.SVC_F_MAGLEV);
    const t = r.desired.maglev.get(s0.svcId)!;
    expect(t.ids.length).toBe(251);
    expect(t.backends).toBe(3);
    const want = maglevTable(['198.18.1.11:9376', '198.18.1.12:9376', '198.18.1.13:9376'], 251, 'test');
    expect(names(r.desired, s0.svcId)).toEqual([...want.entry].map((i) => want.order[i]));
  });

  it('the annotation wins over the flag, both ways', () => {
    const t = table(
      svc('on', { lbAlgorithm: 'maglev', endpoints: eps(11) }),
      svc('off', { clusterIPs: ['198.19.1.176'], lbAlgorithm: 'random', endpoints: eps(12) }),
    );
    const byFlagRandom = render(t, emptyIds(), { lb: DEFAULT_LB });
    expect(slot0(byFlagRandom.desired, `${VIP}:80/TCP`).flags).toBe(abi.SVC_F_MAGLEV);
    expect(slot0(byFlagRandom.desired, '198.19.1.176:80/TCP').flags).toBe(0);
    const byFlagMaglev = render(t, emptyIds(), { lb: MAGLEV });
    expect(slot0(byFlagMaglev.desired, '198.19.1.176:80/TCP').flags).toBe(0);
    expect(byFlagMaglev.desired.maglev.size).toBe(1);
  });

  it('frontends with the same backends share one table; eTP=Local external frontends get their own; 127.0.0.1 NodePorts stay random', () => {
    const r = render(
      withNode(table(svc('s', { nodePort: 30080, externalIPs: ['198.19.250.1'], externalTrafficPolicy: 'Local', endpoints: [...eps(11, 12), ep('198.18.2.11', { nodeName: 'node-b' })] }))),
      emptyIds(),
      { lb: MAGLEV, localhostNodePorts: true },
    );
    const cluster = slot0(r.desired, `${VIP}:80/TCP`);
    const np = slot0(r.desired, `${NODE_IP}:30080/TCP`);
    const ext = slot0(r.desired, '198.19.250.1:80/TCP');
    const lo = slot0(r.desired, '127.0.0.1:30080/TCP');
    expect([cluster, np, ext].map((v) => v.flags & abi.SVC_F_MAGLEV)).toEqual([abi.SVC_F_MAGLEV, abi.SVC_F_MAGLEV, abi.SVC_F_MAGLEV]);
    expect(lo.flags & abi.SVC_F_MAGLEV).toBe(0);
    expect(r.desired.maglev.has(lo.svcId)).toBe(false);
    expect(r.desired.maglev.get(cluster.svcId)!.backends).toBe(3);
    // NodePort and external IP under Local: only this node's two endpoints, one table for both.
    expect(r.desired.maglev.get(np.svcId)).toBe(r.desired.maglev.get(ext.svcId));
    expect(r.desired.maglev.get(np.svcId)!.backends).toBe(2);
  });

  it('no endpoints: flagged (nothing is picked: rejected), no table', () => {
    const r = render(table(svc('s')), emptyIds(), { lb: MAGLEV });
    expect(slot0(r.desired, `${VIP}:80/TCP`)).toMatchObject({ count: 0, flags: abi.SVC_F_MAGLEV });
    expect(r.desired.maglev.size).toBe(0);
  });

  it('more endpoints than slots: random, with a reason', () => {
    const many = Array.from({ length: 252 }, (_, i) => ep(`198.18.${1 + (i >> 8)}.${i & 255}`));
    const r = render(table(svc('s', { endpoints: many })), emptyIds(), { lb: MAGLEV });
    expect(slot0(r.desired, `${VIP}:80/TCP`).flags & abi.SVC_F_MAGLEV).toBe(0);
    expect(r.skipped).toEqual([{ service: 'default/s', reason: `ClusterIP ${VIP}:80/TCP: 252 endpoints do not fit a maglev table of 251: balanced at random` }]);
  });

  it('two nodes with other id histories name the same backend in every slot', () => {
    const t = table(svc('s', { endpoints: eps(11, 12, 13, 14) }));
    const a = render(t, emptyIds(), { lb: MAGLEV });
    // Node B has seen other services first: every id differs.
    const b0 = render(table(svc('x', { clusterIPs: ['198.19.1.9'], endpoints: eps(21, 22, 23, 24, 25) })), emptyIds());
    const b = render(t, { ...emptyIds(), nextSvc: b0.ids.nextSvc, nextBackend: b0.ids.nextBackend, nextSp: b0.ids.nextSp }, { lb: MAGLEV });
    const ida = slot0(a.desired, `${VIP}:80/TCP`).svcId;
    const idb = slot0(b.desired, `${VIP}:80/TCP`).svcId;
    expect(ida).not.toBe(idb);
    expect([...a.desired.maglev.get(ida)!.ids]).not.toEqual([...b.desired.maglev.get(idb)!.ids]);
    expect(names(b.desired, idb)).toEqual(names(a.desired, ida));
  });

  it('`bpfproxy render` shows the flag and the table by its size and backends, not slot by slot; inspect shows the algorithm and M', () => {
    const t = table(svc('s', { endpoints: eps(11, 12, 13) }), svc('r', { clusterIPs: ['198.19.1.176'], lbAlgorithm: 'random', endpoints: eps(14) }));
    const text = renderText(t, { lb: MAGLEV });
    expect(text).toContain('flags=maglev affinity_timeout=0}');
    expect(text).toMatch(/^maglev \d+ = \{table_size=251 backends=3\}$/m);
    expect(text.split('\n').filter((l) => l.startsWith('maglev '))).toHaveLength(1);
    const rows = inspectRows(render(t, emptyIds(), { lb: MAGLEV }).desired, 251);
    expect(rows.find((x) => x.service === 'default/s')).toMatchObject({ algorithm: 'maglev', maglevTableSize: 251 });
    expect(rows.find((x) => x.service === 'default/r')).not.toHaveProperty('algorithm');
    expect(formatInspect(rows).split('\n')).toEqual([
      'Prot LocalAddress:Port         Kind          Service',
      '  -> RemoteAddress:Port',
      'TCP  198.19.1.176:80            ClusterIP     default/r',
      '  -> 198.18.1.14:9376',
      'TCP  198.19.1.175:80            ClusterIP     default/s',
      '  lb maglev (M=251)',
      '  -> 198.18.1.11:9376',
      '  -> 198.18.1.12:9376',
      '  -> 198.18.1.13:9376',
      '',
    ]);
  });
});
