// `bpfproxy run --kubeconfig` as a node runs it, against the real API server, in a node
// namespace (iptables backend): /healthz and /livez and /metrics over HTTP, an API server
// outage that leaves the data plane exactly as it was, and SIGTERM leaving it in place.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiWriter } from '../cluster/api-writer.js';
import { TestCluster } from '../cluster/cluster.js';
import { describeCluster } from '../cluster/describe-cluster.js';
import { type ApiRelay, netnsWithApi } from '../cluster/relay.js';
import { describeKernel } from '../kernel-required.js';
import { eventually } from '../harness/client.js';
import { endpointSlice, node, service } from '../harness/manifests.js';
import { deleteNetns, newRunPrefix, nsRun } from '../harness/netns.js';
import { ProxyProcess } from '../harness/proxy-process.js';

const HEALTHZ = '127.0.0.1:10256';
const METRICS = '127.0.0.1:10249';

describeCluster('bpfproxy run against the real API server', (peers) => describeKernel('in a node namespace (iptables)', () => {
  let cluster: TestCluster;
  let relay: ApiRelay;
  let api: ApiWriter;
  let proxy: ProxyProcess;
  const ns = `${newRunPrefix()}-run`;

  /** GET inside the node namespace: [status, body]. */
  async function get(url: string): Promise<[number, string]> {
    const r = await nsRun(ns, 'curl', ['-s', '-m', '5', '-w', '\n%{http_code}', url], { allowFailure: true });
    const i = r.stdout.lastIndexOf('\n');
    return [Number(r.stdout.slice(i + 1)), r.stdout.slice(0, i)];
  }
  /** The harness's bounded `eventually`, failing with what was awaited, the last value and the proxy's log. */
  const until = <T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> =>
    eventually(async () => {
      const v = await probe();
      if (!ok(v)) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}\n${proxy?.logs.slice(-15).join('\n')}`);
      return v;
    }, timeoutMs);
  const metric = async (name: string): Promise<number> => {
    const [, text] = await get(`http://${METRICS}/metrics`);
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
  };
  const natRules = async () =>
    (await nsRun(ns, 'iptables-save', ['-t', 'nat'])).stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');

  beforeAll(async () => {
    cluster = await TestCluster.start(peers);
    relay = await netnsWithApi(cluster, ns);
    api = new ApiWriter(cluster);
    await api.write('node', [node('node-a', '198.19.200.1', '198.18.1.0/24')]);
    await api.write('web', [
      service({ name: 'web', clusterIP: '198.19.1.20', ports: [{ port: 80, targetPort: 8080 }] }),
      endpointSlice('web', [{ port: 8080 }], [{ ip: '198.18.1.20', pod: 'web-1', node: 'node-a' }]),
    ]);
    const kubeconfig = await cluster.writeKubeconfig('node-a');
    proxy = new ProxyProcess({
      backend: 'iptables', netns: ns, kubeconfig, nodeName: 'node-a',
      // After the harness's own: the last value of a flag wins.
      extraArgs: ['--healthz-bind-address', HEALTHZ, '--metrics-bind-address', METRICS, '--sync-period', '1s'],
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await proxy?.cleanup().catch(() => undefined);
    await relay?.close();
    await deleteNetns(ns);
    await cluster?.stop();
  });

  it('started while the API server is unreachable: programs nothing, /healthz and /livez turn 503; on return it syncs and turns 200', async () => {
    await relay.cut();
    proxy.launch();
    // kube-proxy's rule: a change (here: startup) waiting longer than 2 × --sync-period.
    const [code, body] = await until('503 from /healthz', () => get(`http://${HEALTHZ}/healthz`), ([c]) => c === 503);
    expect(code).toBe(503);
    expect(JSON.parse(body)).toEqual({ lastUpdated: new Date(0).toISOString(), currentTime: expect.any(String) });
    expect((await get(`http://${HEALTHZ}/livez`))[0]).toBe(503);
    expect(await natRules()).not.toContain('KUBE-SERVICES'); // nothing programmed before the caches are in
    expect(await metric('bpfproxy_informer_restarts_total')).toBeGreaterThan(0);
    await relay.restore();
    await proxy.waitForSyncs(1, 30_000);
    expect(await natRules()).toContain('-d 198.19.1.20/32');
    const [ok, okBody] = await get(`http://${HEALTHZ}/healthz`);
    expect(ok).toBe(200);
    expect(Date.parse((JSON.parse(okBody) as { lastUpdated: string }).lastUpdated)).toBeGreaterThan(0);
    expect((await get(`http://${HEALTHZ}/livez`))[0]).toBe(200);
    expect((await get(`http://${HEALTHZ}/nope`))[0]).toBe(404);
  }, 60_000);

  it("/metrics: kube-proxy's sync, change and network programming metrics", async () => {
    const changesBefore = await metric('kubeproxy_sync_proxy_rules_endpoint_changes_total');
    const latencyBefore = await metric('kubeproxy_network_programming_duration_seconds_count');
    // The EndpointSlice controller stamps when the change that led to this slice happened.
    const trigger = new Date(Date.now() - 2000).toISOString();
    const slice = endpointSlice('web', [{ port: 8080 }], [{ ip: '198.18.1.21', pod: 'web-2', node: 'node-a' }]) as { metadata: Record<string, unknown> };
    slice.metadata.annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': trigger };
    await api.write('web', [service({ name: 'web', clusterIP: '198.19.1.20', ports: [{ port: 80, targetPort: 8080 }] }), slice]);
    await until('the new endpoint programmed', natRules, (r) => r.includes('198.18.1.21:8080'));
    const latency = await until('a network programming observation', () => metric('kubeproxy_network_programming_duration_seconds_count'), (n) => n === latencyBefore + 1);
    expect(latency).toBe(latencyBefore + 1);
    // From 2 s before the change to programmed: at least those 2 s.
    expect(await metric('kubeproxy_network_programming_duration_seconds_sum')).toBeGreaterThanOrEqual(2);
    expect(await metric('kubeproxy_sync_proxy_rules_endpoint_changes_total')).toBeGreaterThan(changesBefore);
    expect(await metric('kubeproxy_sync_proxy_rules_duration_seconds_count')).toBeGreaterThan(0);
    expect(await metric('kubeproxy_sync_full_proxy_rules_duration_seconds_count')).toBeGreaterThan(0);
    expect(await metric('kubeproxy_sync_proxy_rules_last_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(await metric('kubeproxy_sync_proxy_rules_endpoint_changes_pending')).toBe(0);
    expect(await metric('kubeproxy_sync_proxy_rules_iptables_restore_failures_total')).toBe(0);
  });

  it('no_local_endpoints counts a Local Service whose endpoints are all on other nodes', async () => {
    await api.write('loc', [
      service({ name: 'loc', clusterIP: '198.19.1.21', ports: [{ port: 80, targetPort: 80 }], internalTrafficPolicy: 'Local' }),
      endpointSlice('loc', [{ port: 80 }], [{ ip: '198.18.2.5', pod: 'loc-1', node: 'node-b' }]),
    ]);
    const [, text] = await until('the gauge', () => get(`http://${METRICS}/metrics`), ([, t]) => t.includes('kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy="internal"} 1'));
    expect(text).toContain('kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy="external"} 0');
    await api.remove('loc');
  });

  it('an outage leaves the data plane exactly as it was, and it converges when the API server returns', async () => {
    const before = await natRules();
    const restarts = await metric('bpfproxy_informer_restarts_total');
    const syncs = proxy.syncs;
    await relay.cut();
    await until('the informers notice', () => metric('bpfproxy_informer_restarts_total'), (n) => n > restarts);
    // Periodic syncs (every second here) go on, against the cache: nothing changes.
    await proxy.waitForSyncs(syncs + 3, 20_000);
    expect(await natRules()).toBe(before);
    expect((await get(`http://${HEALTHZ}/healthz`))[0]).toBe(200); // nothing waits to be synced
    await api.write('late', [
      service({ name: 'late', clusterIP: '198.19.1.22', ports: [{ port: 80, targetPort: 80 }] }),
      endpointSlice('late', [{ port: 80 }], [{ ip: '198.18.1.22', pod: 'late-1', node: 'node-a' }]),
    ]);
    expect(await natRules()).toBe(before);
    await relay.restore();
    await until('the change made during the outage', natRules, (r) => r.includes('198.18.1.22:80'));
  }, 60_000);

  it('SIGTERM leaves the data plane in place; the restarted proxy adopts it and keeps syncing', async () => {
    const before = await natRules();
    await proxy.stop();
    expect(await natRules()).toBe(before);
    await proxy.start();
    expect(await natRules()).toBe(before);
    await api.remove('late');
    await until('late removed after the restart', natRules, (r) => !r.includes('198.18.1.22:80'));
  }, 60_000);
}));
