// The Kubernetes source against the real kube-apiserver + etcd: the informers' events,
// the label and field selectors, an API server outage, and a real 410 Gone (etcd compacted
// and the API server restarted while the source was cut off).
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubernetesSource, backoffDelay, serviceLabelSelector } from '../../src/sources/kubernetes.js';
import type { SourceEvent } from '../../src/sources/types.js';
import { ApiWriter } from '../cluster/api-writer.js';
import { TestCluster } from '../cluster/cluster.js';
import { describeCluster } from '../cluster/describe-cluster.js';
import { ApiRelay } from '../cluster/relay.js';
import { eventually } from '../harness/client.js';
import { endpointSlice, node, service } from '../harness/manifests.js';

it('backoff doubles to its cap, with ±50 % jitter', () => {
  expect(backoffDelay(0, 1000, 30_000, () => 0.5)).toBe(1000);
  expect(backoffDelay(3, 1000, 30_000, () => 0.5)).toBe(8000);
  expect(backoffDelay(10, 1000, 30_000, () => 0.5)).toBe(30_000);
  expect(backoffDelay(10, 1000, 30_000, () => 0)).toBe(15_000);
  expect(backoffDelay(10, 1000, 30_000, () => 0.999)).toBe(44_970);
});

it('selects what kube-proxy selects: its own proxy name, never headless', () => {
  expect(serviceLabelSelector()).toBe('!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless');
  expect(serviceLabelSelector('bpf')).toBe('service.kubernetes.io/service-proxy-name=bpf,!service.kubernetes.io/headless');
});

describeCluster('KubernetesSource against the real API server', (peers) => {
  let cluster: TestCluster;
  let relay: ApiRelay;
  let api: ApiWriter;
  let source: KubernetesSource;
  const events: SourceEvent[] = [];
  let synced = 0;

  /** Bounded wait for a condition on the events seen so far. */
  /** The harness's bounded `eventually` on a condition over the events seen so far. */
  const until = (what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> =>
    eventually(
      async () => {
        if (!cond()) throw new Error(`timed out waiting for ${what}; events: ${events.map((e) => `${e.type} ${e.kind} ${e.key}`).join(', ')}`);
      },
      timeoutMs,
      50,
    );
  const seen = (type: string, kind: string, key: string) => () => events.some((e) => e.type === type && e.kind === kind && e.key === key);

  beforeAll(async () => {
    cluster = await TestCluster.start(peers);
    relay = new ApiRelay(cluster.apiPort, cluster.dir);
    await relay.open();
    api = new ApiWriter(cluster);
    await api.write('nodes', [node('node-a', '198.19.200.1', '198.18.1.0/24'), node('node-b', '198.19.200.2', '198.18.2.0/24')]);
    await api.write('web', [
      service({ name: 'web', clusterIP: '198.19.1.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
      endpointSlice('web', [{ name: 'http', port: 8080 }], [{ ip: '198.18.1.10', pod: 'web-1', node: 'node-a' }]),
    ]);
    await api.write('other-proxy', [
      service({ name: 'other', clusterIP: '198.19.1.11', ports: [{ port: 80, targetPort: 80 }], labels: { 'service.kubernetes.io/service-proxy-name': 'someone-else' } }),
    ]);
    const kc = new KubeConfig();
    kc.loadFromFile(await cluster.writeKubeconfig('source', cluster.adminToken, relay.url));
    source = new KubernetesSource(kc, { nodeName: 'node-a', backoffBaseMs: 100, backoffMaxMs: 400, staleAfterMs: 60_000 }, pino({ level: 'silent' }));
    const onEvent = (e: SourceEvent) => {
      events.push(e);
      // client-node turns a throwing handler into an unhandled rejection (a crash, and
      // vitest fails the run on one); the source must contain it.
      if (e.key === 'default/boom') throw new Error('handler bug');
    };
    await source.start({ onEvent, onProblem: () => undefined, onSynced: () => synced++ });
  });

  afterAll(async () => {
    await source?.stop();
    await relay?.close();
    await cluster?.stop();
  });

  it('lists this node, the proxied Services and their slices before it says synced', () => {
    expect(synced).toBe(1);
    const keys = events.map((e) => `${e.type} ${e.kind} ${e.key}`);
    expect(keys).toContain('ADDED Node node-a');
    expect(keys).not.toContain('ADDED Node node-b'); // only this node (field selector)
    expect(keys).toContain('ADDED Service default/web');
    expect(keys).toContain('ADDED EndpointSlice default/web-abc12');
    expect(keys).not.toContain('ADDED Service default/other'); // another proxy's Service
    expect(events.every((e) => e.source === 'api')).toBe(true);
  });

  it('watches: an added, changed and deleted object each arrive once', async () => {
    const from = events.length;
    await api.write('db', [service({ name: 'db', clusterIP: '198.19.1.12', ports: [{ port: 5432, targetPort: 5432 }] })]);
    await until('db added', seen('ADDED', 'Service', 'default/db'));
    await api.write('db', [service({ name: 'db', clusterIP: '198.19.1.12', ports: [{ port: 5433, targetPort: 5432 }] })]);
    await until('db modified', seen('MODIFIED', 'Service', 'default/db'));
    await api.remove('db');
    await until('db deleted', seen('DELETED', 'Service', 'default/db'));
    await api.write('boom', [service({ name: 'boom', clusterIP: '198.19.1.15', ports: [{ port: 1, targetPort: 1 }] })]);
    await until('boom added', seen('ADDED', 'Service', 'default/boom'));
    // A headless slice is never watched.
    const headless = endpointSlice('hl', [{ port: 80 }], [{ ip: '198.18.1.11', pod: 'hl-1' }]) as Record<string, unknown>;
    await api.apply({ ...headless, metadata: { name: 'hl-x', namespace: 'default', labels: { 'kubernetes.io/service-name': 'hl', 'service.kubernetes.io/headless': '' } } } as never);
    await api.write('marker', [service({ name: 'marker', clusterIP: '198.19.1.13', ports: [{ port: 1, targetPort: 1 }] })]);
    await until('marker added', seen('ADDED', 'Service', 'default/marker'));
    const got = events.slice(from).map((e) => `${e.type} ${e.kind} ${e.key}`);
    expect(got).toEqual(['ADDED Service default/db', 'MODIFIED Service default/db', 'DELETED Service default/db', 'ADDED Service default/boom', 'ADDED Service default/marker']);
  });

  it('the watchdog reports an informer that heard nothing, not even a bookmark, for too long', async () => {
    const stale: string[] = [];
    const kc = new KubeConfig();
    kc.loadFromFile(await cluster.writeKubeconfig('watchdog', cluster.adminToken, relay.url));
    // Nodes named like no node: an informer that lists nothing and then hears nothing.
    const quiet = new KubernetesSource(kc, { nodeName: 'no-such-node', staleAfterMs: 400, onStale: (r) => stale.push(r) }, pino({ level: 'silent' }));
    try {
      await quiet.start({ onEvent: () => undefined, onProblem: () => undefined });
      await until('a stale report', () => stale.includes('Node'));
      expect(quiet.restarts()).toEqual({ Service: 0, EndpointSlice: 0, Node: 0 }); // reported, not an error
    } finally {
      await quiet.stop();
    }
  });

  it('outage: nothing is emitted while the API server is unreachable; on return it resumes and converges', async () => {
    const before = source.restarts();
    await relay.cut();
    // The informers notice (their watch breaks) and retry with backoff.
    await until('informer restarts', () => Object.entries(source.restarts()).every(([k, n]) => n > (before[k] ?? 0)));
    const during = events.length;
    // Changes the source cannot see yet (the test driver reaches the API server directly).
    await api.write('late', [service({ name: 'late', clusterIP: '198.19.1.14', ports: [{ port: 81, targetPort: 81 }] })]);
    expect(events.length).toBe(during);
    await relay.restore();
    await until('late added after the outage', seen('ADDED', 'Service', 'default/late'));
    expect(events.slice(during).map((e) => `${e.type} ${e.kind} ${e.key}`)).toEqual(['ADDED Service default/late']);
    // It resumed its watches from where it was; no relist was needed.
    expect(source.lists()).toEqual({ Service: 1, EndpointSlice: 1, Node: 1 });
  });

  it('410 Gone for real: compacted while cut off, it relists; deleted objects go, nothing is emitted twice', async () => {
    await relay.cut();
    await api.remove('late'); // gone while the source cannot see it
    await api.write('web', [
      service({ name: 'web', clusterIP: '198.19.1.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
      endpointSlice('web', [{ name: 'http', port: 8080 }], [{ ip: '198.18.1.20', pod: 'web-2', node: 'node-a' }]),
    ]);
    // Past revisions go from etcd, and a restarted API server's watch cache starts at now:
    // the source's resourceVersions are too old from here on.
    await cluster.compact();
    await cluster.stopApiserver();
    await cluster.startApiserver();
    const from = events.length;
    await relay.restore();
    await until('every informer relisted', () => Object.values(source.lists()).every((n) => n === 2));
    await until('late deleted', seen('DELETED', 'Service', 'default/late'));
    await until('slice updated', () => events.slice(from).some((e) => e.type === 'MODIFIED' && e.key === 'default/web-abc12'));
    const got = events.slice(from).map((e) => `${e.type} ${e.kind} ${e.key}`);
    // The resumed watches got 410 Gone, and each informer listed again...
    expect(source.lists()).toEqual({ Service: 2, EndpointSlice: 2, Node: 2 });
    // ...emitting only what changed: the unchanged Service web, marker and node-a are not re-emitted.
    expect(got.sort()).toEqual(['DELETED Service default/late', 'MODIFIED EndpointSlice default/web-abc12']);
  });
});
