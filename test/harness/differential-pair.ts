// Two proxies as the same node of one API server, each in its own namespace: the real
// kube-proxy in some mode and bpfproxy on the matching backend, fed the same objects, so a
// differential test can compare what each programmed (iptables-save, ipvsadm, ipsets).
import { ApiWriter } from '../cluster/api-writer.js';
import { TestCluster } from '../cluster/cluster.js';
import type { Peers } from '../cluster/peers.js';
import { netnsWithApi, type ApiRelay } from '../cluster/relay.js';
import { KubeProxyProcess, type KubeProxyMode } from './kube-proxy-process.js';
import { node } from './manifests.js';
import { deleteNetns, newRunPrefix } from './netns.js';
import { ProxyProcess } from './proxy-process.js';

export const PAIR_NODE = 'node-a';
export const PAIR_NODE_IP = '198.19.200.1';
const CLUSTER_CIDR = '198.18.0.0/16';

export interface DifferentialPair {
  /** Namespaces: kube-proxy's and ours. */
  ns: { theirs: string; ours: string };
  writer: ApiWriter;
  kubeProxy: KubeProxyProcess;
  ours: ProxyProcess;
  stop(): Promise<void>;
}

/**
 * Starts an API server, a namespace per proxy (`addNodeAddress` gives each the node address
 * its way), the Node object, and both proxies up to their first sync. On failure whatever
 * started is stopped.
 */
export async function startDifferentialPair(
  peers: Peers,
  opts: { mode: KubeProxyMode; backend: string; addNodeAddress(ns: string, ip: string): Promise<void> },
): Promise<DifferentialPair> {
  const prefix = newRunPrefix();
  const ns = { theirs: `${prefix}-kp`, ours: `${prefix}-ours` };
  const relays: ApiRelay[] = [];
  let cluster: TestCluster | undefined;
  let kubeProxy: KubeProxyProcess | undefined;
  let ours: ProxyProcess | undefined;
  const stop = async () => {
    await Promise.all([kubeProxy?.stop(), ours?.stop()]);
    for (const r of relays) await r.close();
    for (const n of Object.values(ns)) await deleteNetns(n);
    await cluster?.stop();
  };
  try {
    cluster = await TestCluster.start(peers);
    const writer = new ApiWriter(cluster);
    for (const n of Object.values(ns)) {
      relays.push(await netnsWithApi(cluster, n));
      await opts.addNodeAddress(n, PAIR_NODE_IP);
    }
    await writer.write('node.json', [node(PAIR_NODE, PAIR_NODE_IP, '198.18.1.0/24', 'zone-1')]);
    const kubeconfig = await cluster.writeKubeconfig('differential');
    kubeProxy = new KubeProxyProcess({ binary: peers.kubeProxy, mode: opts.mode, netns: ns.theirs, kubeconfig, nodeName: PAIR_NODE, extraArgs: [`--cluster-cidr=${CLUSTER_CIDR}`] });
    ours = new ProxyProcess({ backend: opts.backend, netns: ns.ours, kubeconfig, nodeName: PAIR_NODE, extraArgs: ['--cluster-cidr', CLUSTER_CIDR] });
    await Promise.all([kubeProxy.start(), ours.start()]);
    return { ns, writer, kubeProxy, ours, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
