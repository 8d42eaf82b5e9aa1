// The change tracker against the whole-table build it replaces in the proxier: after any
// sequence of events, its table equals a fresh build from the same objects (with the same
// last-good memory), and the changes it reports are exactly the difference between the
// previous and the current build.
import { describe, expect, it } from 'vitest';
import { buildServiceTable, type LastGood } from '../../src/model/build-table.js';
import { ServiceChangeTracker } from '../../src/model/change-tracker.js';
import { changesBetween } from '../fixtures/changes.js';
import type { ServiceTable } from '../../src/model/types.js';
import { ObjectStore } from '../../src/sources/store.js';
import type { SourceEvent } from '../../src/sources/types.js';
import { prng } from '../harness/prng.js';

const NAMES = ['a', 'b', 'c', 'd'];

function randomEvent(r: () => number): SourceEvent {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const kind = pick(['Service', 'EndpointSlice', 'EndpointSlice', 'Node'] as const);
  const type = r() < 0.2 ? 'DELETED' : 'MODIFIED';
  if (kind === 'Service') {
    const name = pick(NAMES);
    const bad = r() < 0.15;
    const two = r() < 0.3;
    // The eBPF load-balancing annotation: absent, either algorithm, or a bad value (a problem, not an invalid Service).
    const algorithm = pick([undefined, undefined, 'maglev', 'random', 'round-robin']);
    const object = {
      apiVersion: 'v1', kind: 'Service',
      metadata: {
        namespace: 'ns', name, labels: (r() < 0.1 ? { 'service.kubernetes.io/headless': '' } : {}) as Record<string, string>,
        ...(algorithm ? { annotations: { 'bpfproxy.io/lb-algorithm': algorithm } } : {}),
      },
      spec: {
        clusterIP: bad ? 'not-an-ip' : `198.19.1.${NAMES.indexOf(name) + 1}`,
        type: r() < 0.3 ? 'NodePort' : 'ClusterIP',
        sessionAffinity: r() < 0.2 ? 'ClientIP' : 'None',
        ports: two
          ? [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'dns', port: 53, protocol: 'UDP' }]
          : [{ name: r() < 0.5 ? 'http' : '', port: 80 + Math.floor(r() * 2) }],
      },
    };
    return { type, kind, key: `ns/${name}`, object, source: 'test' };
  }
  if (kind === 'EndpointSlice') {
    const name = `${pick(NAMES)}-${Math.floor(r() * 2)}`;
    const svc = r() < 0.8 ? name.split('-')[0]! : pick(NAMES); // sometimes a slice moves to another Service
    const bad = r() < 0.15;
    const endpoints = Array.from({ length: Math.floor(r() * 4) }, () => ({
      addresses: [bad && r() < 0.5 ? '2001:db8::1' : `198.18.1.${1 + Math.floor(r() * 6)}`],
      conditions: { ready: r() < 0.8, serving: true, terminating: r() < 0.2 },
      nodeName: pick(['node-a', 'node-b']),
    }));
    const object = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { namespace: 'ns', name, labels: (bad && r() < 0.5 ? {} : { 'kubernetes.io/service-name': svc }) as Record<string, string> },
      ports: [{ name: pick(['http', 'dns', '']), port: 8080, protocol: pick(['TCP', 'UDP']) }],
      endpoints,
    };
    return { type, kind, key: `ns/${name}`, object, source: 'test' };
  }
  const name = pick(['node-a', 'node-b']);
  const object = {
    apiVersion: 'v1', kind: 'Node', metadata: { name },
    status: { addresses: [{ type: 'InternalIP', address: r() < 0.1 ? 'bogus' : `198.18.0.${1 + Math.floor(r() * 3)}` }] },
  };
  return { type, kind, key: name, object, source: 'test' };
}

const sorted = (t: ServiceTable) => ({
  services: [...t.services.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
  nodes: [...t.nodes.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
});

describe('ServiceChangeTracker', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`matches the whole-table build after every batch of random events (seed ${seed})`, () => {
      const r = prng(seed);
      const store = new ObjectStore();
      const tracker = new ServiceChangeTracker({ nodeName: 'node-a' });
      let lastGood: LastGood | undefined;
      let before: ServiceTable = { services: new Map(), nodeName: 'node-a', nodes: new Map() };
      let changed = 0;
      for (let batch = 0; batch < 60; batch++) {
        const n = 1 + Math.floor(r() * 4);
        for (let i = 0; i < n; i++) {
          const ev = randomEvent(r);
          store.apply(ev);
          tracker.onEvent(ev);
        }
        const got = tracker.takeChanges();
        const ref = buildServiceTable(store.snapshot(), { nodeName: 'node-a', lastGood });
        lastGood = ref.lastGood;
        expect(sorted(tracker.table)).toEqual(sorted(ref.table));
        expect(got.changes).toEqual(changesBetween(before, ref.table));
        const refProblems = new Set(ref.problems.map((p) => JSON.stringify(p)));
        for (const p of got.problems) expect(refProblems).toContain(JSON.stringify(p));
        changed += got.changes.length;
        before = { ...ref.table, services: new Map(ref.table.services) };
      }
      expect(changed).toBeGreaterThan(10); // the sequence did exercise the tracker
    });
  }

  it('reports a problem once while it lasts, and again when it comes back', () => {
    const t = new ServiceChangeTracker({ nodeName: 'n' });
    const object = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'ns', name: 'x' }, spec: { clusterIP: 'nope', ports: [{ port: 80 }] } };
    const bad: SourceEvent = { type: 'ADDED', kind: 'Service', key: 'ns/x', source: 'f.yaml', object };
    t.onEvent(bad);
    expect(t.takeChanges().problems).toEqual([{ source: 'f.yaml', object: 'Service ns/x', field: 'spec.clusterIP', message: expect.any(String) }]);
    t.onEvent({ ...bad, type: 'MODIFIED' });
    expect(t.takeChanges().problems).toEqual([]);
    t.onEvent({ ...bad, type: 'DELETED' });
    expect(t.takeChanges().problems).toEqual([]);
    t.onEvent(bad);
    expect(t.takeChanges().problems).toHaveLength(1);
  });

  it('a Node event counts as a node change only when what the proxy reads changed (addresses, pod CIDRs, zone)', () => {
    const t = new ServiceChangeTracker({ nodeName: 'n' });
    const node = (zone: string, heartbeat: string) => ({
      type: 'MODIFIED' as const, kind: 'Node' as const, key: 'n', source: 'api',
      object: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', labels: { 'topology.kubernetes.io/zone': zone } },
        status: { addresses: [{ type: 'InternalIP', address: '198.19.200.1' }], conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: heartbeat }] } },
    });
    t.onEvent(node('z1', '1'));
    expect(t.takeChanges().nodesChanged).toBe(true);
    t.onEvent(node('z1', '2')); // the kubelet's status update
    expect(t.takeChanges().nodesChanged).toBe(false);
    t.onEvent(node('z2', '2'));
    expect(t.takeChanges().nodesChanged).toBe(true);
    expect(t.table.nodes.get('n')?.zone).toBe('z2');
  });
});
