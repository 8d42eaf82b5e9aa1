// Which API server and credentials the Kubernetes source uses (kube-proxy's rules).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../src/sources/kubeconfig.js';

describe('loadKubeConfig', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpfproxy-kc-'));
    file = join(dir, 'kubeconfig');
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://198.19.200.10:6443', 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'abc' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads --kubeconfig, and --master overrides its server (kube-proxy: master wins)', () => {
    expect(loadKubeConfig({ kubeconfig: file }).getCurrentCluster()?.server).toBe('https://198.19.200.10:6443');
    const kc = loadKubeConfig({ kubeconfig: file, master: 'https://198.19.200.11:6443/' });
    expect(kc.getCurrentCluster()?.server).toBe('https://198.19.200.11:6443');
    expect(kc.getCurrentUser()?.token).toBe('abc'); // the credentials stay
  });

  it('--master alone: that server, no credentials; plain http allowed', () => {
    const kc = loadKubeConfig({ master: 'http://127.0.0.1:8080' });
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'http://127.0.0.1:8080', skipTLSVerify: true });
    expect(loadKubeConfig({ master: 'https://198.19.200.10:6443' }).getCurrentCluster()?.skipTLSVerify).toBe(false);
  });

  it('names the flag when the file is missing, and says why in-cluster config is not there', () => {
    expect(() => loadKubeConfig({ kubeconfig: join(dir, 'nope') })).toThrow(/^--kubeconfig: .*nope does not exist/);
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      expect(() => loadKubeConfig({})).toThrow(/no source: pass --kubeconfig FILE, --master URL or --manifests DIR \(not running in a pod/);
    } finally {
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
    }
  });
});
