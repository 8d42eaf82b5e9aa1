// deploy/ against the real API server: every object passes a server-side dry-run, and the
// ServiceAccount's own token, bound by deploy/rbac.yaml, is enough for bpfproxy to sync the
// seed, while the API server refuses it secrets, pods and configmaps (403).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiWriter, collectionPath } from '../cluster/api-writer.js';
import { TestCluster } from '../cluster/cluster.js';
import { describeCluster } from '../cluster/describe-cluster.js';
import { type ApiRelay, netnsWithApi } from '../cluster/relay.js';
import { itNeeds, kernelUnavailableReason } from '../kernel-required.js';
import { eventually } from '../harness/client.js';
import { deleteNetns, newRunPrefix, nsRun } from '../harness/netns.js';
import { dig } from '../dns/dig.js';
import { ProxyProcess } from '../harness/proxy-process.js';

const DEPLOY = fileURLToPath(new URL('../../deploy', import.meta.url));
const SEED = fileURLToPath(new URL('../../examples/hostnames', import.meta.url));
const DEPLOY_DNS = fileURLToPath(new URL('../../deploy/dns', import.meta.url));

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

function yamlObjects(dir: string): Obj[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Obj))
    .filter((o) => o !== null);
}

describeCluster('deploy/ on the real API server', (peers) => {
  let cluster: TestCluster;
  let saToken: string;
  const objects = yamlObjects(DEPLOY);

  beforeAll(async () => {
    cluster = await TestCluster.start(peers);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('holds a ServiceAccount, ClusterRole, ClusterRoleBinding and DaemonSet', () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'ServiceAccount']);
  });

  it('every object passes a server-side dry-run', async () => {
    for (const o of objects) {
      const r = await cluster.request('POST', `${collectionPath(o)}?dryRun=All&fieldValidation=Strict`, o);
      expect(r.status, `${o.kind} ${o.metadata.name}: ${r.text}`).toBe(201);
    }
  });

  it("the ServiceAccount's token may list and watch what bpfproxy reads, and is refused (403) the rest", async () => {
    for (const o of objects.filter((x) => x.kind !== 'DaemonSet')) {
      const r = await cluster.request('POST', collectionPath(o), o);
      expect(r.status, r.text).toBe(201);
    }
    const tr = await cluster.request('POST', '/api/v1/namespaces/kube-system/serviceaccounts/bpfproxy/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    expect(tr.status, tr.text).toBe(201);
    saToken = (JSON.parse(tr.text) as { status: { token: string } }).status.token;
    const as = (path: string) => cluster.request('GET', path, undefined, saToken);
    for (const path of ['/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices', '/api/v1/nodes?fieldSelector=metadata.name%3Dnode-a', '/api/v1/services?watch=true&timeoutSeconds=1']) {
      expect((await as(path)).status, path).toBe(200);
    }
    for (const path of ['/api/v1/secrets', '/api/v1/namespaces/kube-system/secrets', '/api/v1/pods', '/api/v1/configmaps', '/api/v1/namespaces/default/configmaps']) {
      const r = await as(path);
      expect(r.status, `${path}: ${r.text}`).toBe(403);
      expect(r.text).toContain('system:serviceaccount:kube-system:bpfproxy');
    }
    // Writes are refused too: it only reads.
    expect((await cluster.request('POST', '/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 1 }] } }, saToken)).status).toBe(403);
  });

  /** bpfproxy (iptables) with the ServiceAccount's token in a new node namespace; teardown always. */
  async function withProxy(suffix: string, extraArgs: string[], body: (ns: string, proxy: ProxyProcess) => Promise<void>): Promise<void> {
    const ns = `${newRunPrefix()}-${suffix}`;
    let relay: ApiRelay | undefined;
    let proxy: ProxyProcess | undefined;
    try {
      relay = await netnsWithApi(cluster, ns);
      const kubeconfig = await cluster.writeKubeconfig('bpfproxy-sa', saToken);
      proxy = new ProxyProcess({ backend: 'iptables', netns: ns, kubeconfig, nodeName: 'node-a', extraArgs });
      await proxy.start();
      await body(ns, proxy);
      expect(proxy.logs.join('\n')).not.toContain('forbidden');
    } finally {
      await proxy?.stop();
      await proxy?.cleanup().catch(() => undefined);
      await relay?.close();
      await deleteNetns(ns);
    }
  }

  itNeeds(kernelUnavailableReason(), 'bpfproxy with that token syncs the seed (iptables, in a node namespace)', async () => {
    const api = new ApiWriter(cluster);
    for (const o of yamlObjects(SEED)) await api.apply(o);
    await withProxy('dep', [], async (ns) => {
      const rules = (await nsRun(ns, 'iptables-save', ['-t', 'nat'])).stdout;
      expect(rules).toContain('-d 198.19.1.175/32');
      for (const ip of ['198.18.1.2', '198.18.1.3', '198.18.1.4']) expect(rules).toContain(`--to-destination ${ip}:9376`);
      expect(rules).not.toContain('198.18.1.5'); // the unready pod
    });
  }, 90_000);

  itNeeds(kernelUnavailableReason(), 'with deploy/dns/rbac.yaml too, the token runs cluster DNS (--dns-pods verified): the seed names answer, nothing is forbidden', async () => {
    for (const o of yamlObjects(DEPLOY_DNS)) {
      const r = await cluster.request('POST', collectionPath(o), o);
      expect(r.status, r.text).toBe(201);
    }
    const as = (path: string) => cluster.request('GET', path, undefined, saToken);
    // The RBAC authorizer learns new bindings through its informer, a moment after the POST
    // (seen once: 403 right after it, under load).
    await eventually(async () => {
      for (const path of ['/api/v1/namespaces', '/api/v1/pods']) expect((await as(path)).status, path).toBe(200);
    }, 10_000);
    expect((await as('/api/v1/secrets')).status).toBe(403);
    await withProxy('depdns', ['--dns-bind-address', '127.0.0.1:53', '--dns-pods', 'verified'], async (ns) => {
      const answer = async (name: string) => (await dig(ns, '127.0.0.1', 53, name, 'A')).answers;
      expect(await answer('hostnames.default.svc.cluster.local')).toEqual(['hostnames.default.svc.cluster.local. A 198.19.1.175']);
      expect(await answer('busybox-1.default-subdomain.default.svc.cluster.local')).toEqual(['busybox-1.default-subdomain.default.svc.cluster.local. A 198.18.1.10']);
      expect(await answer('198-18-1-11.default.pod.cluster.local')).toEqual(['198-18-1-11.default.pod.cluster.local. A 198.18.1.11']);
    });
  }, 90_000);
});
