// Which API server and credentials the Kubernetes source uses, as kube-proxy decides it:
// --kubeconfig (with --master overriding its server), --master alone, else the pod's
// in-cluster service account.
import { existsSync } from 'node:fs';
import { type Cluster, KubeConfig } from '@kubernetes/client-node';

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Throws a message naming the flag when the configuration cannot be loaded. */
export function loadKubeConfig(o: { kubeconfig?: string; master?: string }): KubeConfig {
  const kc = new KubeConfig();
  const master = o.master?.replace(/\/$/, '');
  if (o.kubeconfig !== undefined) {
    if (!existsSync(o.kubeconfig)) throw new Error(`--kubeconfig: ${o.kubeconfig} does not exist`);
    try {
      kc.loadFromFile(o.kubeconfig);
    } catch (e) {
      throw new Error(`--kubeconfig ${o.kubeconfig}: ${(e as Error).message}`);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`--kubeconfig ${o.kubeconfig}: no current context with a cluster`);
    // client-node's Watch and API clients read the server from this object.
    if (master) (cluster as { server: string }).server = master;
  } else if (master) {
    // client-node refuses plain http unless TLS verification is off; there is no TLS then.
    const cluster: Cluster = { name: 'master', server: master, skipTLSVerify: master.startsWith('http:') };
    kc.loadFromClusterAndUser(cluster, { name: 'anonymous' });
  } else {
    if (!process.env.KUBERNETES_SERVICE_HOST || !existsSync(SA_TOKEN)) {
      throw new Error('no source: pass --kubeconfig FILE, --master URL or --manifests DIR (not running in a pod: KUBERNETES_SERVICE_HOST or the service account token is missing)');
    }
    kc.loadFromCluster();
  }
  return kc;
}
