// The compared modes and how each proxy is started: production settings (the defaults'
// 30 s sync period and 1 s min-sync-period, not the test harness's 5 s / 100 ms), metrics on
// 127.0.0.1:10249 inside the node namespace, the same API server source for all.
// Both iptables modes use iptables-legacy: with this machine's default (iptables-nft) a full
// sync of 10k services did not finish in 15 min (README, bench/iptables-sync.ts), and
// legacy is what large clusters are advised to run; kube-proxy gets it through its PATH.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { KubeProxyProcess } from '../../test/harness/kube-proxy-process.js';
import { type NodeProxy, ProxyProcess } from '../../test/harness/proxy-process.js';
import { nsRun } from '../../test/harness/netns.js';

// ebpf is the production default: the socket LB (attached to the cgroup of the client pod's
// processes, as to a node's cgroup root) translates connect() and tc_lb sees pod-IP packets;
// ebpf/tc has --socket-lb=false: every packet through tc_lb, as traffic from outside a node's
// cgroups (other nodes, external clients) always is. Its runs give the per-packet costs.
export const MODES = ['no-proxy', 'ebpf', 'ebpf/tc', 'iptables', 'kube-proxy/iptables', 'kube-proxy/nftables'] as const;
/** IPVS runs only in the guest kernel under TCG (`make bench-guest`): its own table, never a ratio against the host's. */
export const GUEST_MODES = ['no-proxy', 'ipvs', 'kube-proxy/ipvs'] as const;
export type Mode = (typeof MODES)[number] | (typeof GUEST_MODES)[number];
export const METRICS = '127.0.0.1:10249';

export interface ProxyAt {
  netns: string;
  kubeconfig: string;
  pinRoot: string;
  kubeProxyBinary: string;
  /** A scratch directory of this run (for kube-proxy's legacy-iptables PATH). */
  workDir: string;
  /** bpfproxy's source instead of the API server (the largest scale): a manifests directory. */
  manifests?: string;
  /** ebpf: the cgroup (v2) of the client's processes, where the socket LB attaches. */
  cgroup?: string;
}

const PRODUCTION_BPFPROXY = ['--sync-period', '30s', '--min-sync-period', '1s', '--metrics-bind-address', METRICS];
/** A directory whose iptables* / ip6tables* are the legacy tools, first on kube-proxy's PATH. */
function legacyPathEnv(dir: string): NodeJS.ProcessEnv {
  mkdirSync(dir, { recursive: true });
  for (const fam of ['iptables', 'ip6tables'])
    for (const tool of ['', '-save', '-restore']) {
      try {
        symlinkSync(`/usr/sbin/${fam}-legacy${tool}`, join(dir, `${fam}${tool}`));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
  return { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` };
}

const PRODUCTION_KUBE_PROXY = ['--cluster-cidr=198.18.0.0/16', '--iptables-sync-period=30s', '--iptables-min-sync-period=1s'];

/** The proxy of `mode`, not started (no-proxy: none). */
export function proxyFor(mode: Mode, at: ProxyAt): NodeProxy | undefined {
  if (at.manifests && mode.startsWith('kube-proxy/')) throw new Error(`${mode} reads only the API server, not ${at.manifests}`);
  // kube-proxy's (always the API server), and bpfproxy's (the manifests directory when given).
  const common = { netns: at.netns, kubeconfig: at.kubeconfig, nodeName: 'node-a' };
  const ours = { netns: at.netns, nodeName: 'node-a', ...(at.manifests ? { manifests: at.manifests } : { kubeconfig: at.kubeconfig }) };
  switch (mode) {
    case 'no-proxy':
      return undefined;
    case 'ebpf':
      if (!at.cgroup) throw new Error('ebpf (socket LB) needs the client cgroup');
      return new ProxyProcess({ backend: 'ebpf', ...ours, extraArgs: [...PRODUCTION_BPFPROXY, '--bpf-pin-root', at.pinRoot, '--cgroup-path', at.cgroup] });
    case 'ebpf/tc':
      return new ProxyProcess({ backend: 'ebpf', ...ours, extraArgs: [...PRODUCTION_BPFPROXY, '--bpf-pin-root', at.pinRoot, '--socket-lb=false'] });
    case 'iptables':
      return new ProxyProcess({ backend: 'iptables', ...ours, extraArgs: [...PRODUCTION_BPFPROXY, '--cluster-cidr', '198.18.0.0/16', '--iptables-mode', 'legacy'] });
    case 'ipvs':
      return new ProxyProcess({ backend: 'ipvs', ...ours, extraArgs: [...PRODUCTION_BPFPROXY, '--cluster-cidr', '198.18.0.0/16'] });
    case 'kube-proxy/ipvs':
      return new KubeProxyProcess({ binary: at.kubeProxyBinary, mode: 'ipvs', ...common, extraArgs: ['--cluster-cidr=198.18.0.0/16', '--ipvs-sync-period=30s', '--ipvs-min-sync-period=1s'] });
    case 'kube-proxy/iptables':
    case 'kube-proxy/nftables':
      return new KubeProxyProcess({
        binary: at.kubeProxyBinary,
        mode: mode === 'kube-proxy/iptables' ? 'iptables' : 'nftables',
        ...common,
        extraArgs: PRODUCTION_KUBE_PROXY,
        ...(mode === 'kube-proxy/iptables' ? { env: legacyPathEnv(join(at.workDir, 'legacy-bin')) } : {}),
      });
  }
}

/** The proxy's Prometheus text (its own /metrics in the node namespace). */
export async function scrape(netns: string): Promise<string> {
  return (await nsRun(netns, 'curl', ['-s', '-m', '5', `http://${METRICS}/metrics`], { allowFailure: true })).stdout;
}

/**
 * A metric's value summed over its label sets (kube-proxy labels its histograms by
 * ip_family, ours has none), NaN when absent.
 */
export function metric(text: string, name: string): number {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return lines.length ? lines.reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0) : Number.NaN;
}
