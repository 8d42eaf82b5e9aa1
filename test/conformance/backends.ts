// Backends the suite runs against, and the cases each cannot run (with the reason the
// matrix prints). A backend that is not listed as unsupporting a case must pass it.
import { nsRun } from '../harness/netns.js';
import { KubeProxyProcess, type KubeProxyMode } from '../harness/kube-proxy-process.js';
import type { NodeProxy } from '../harness/proxy-process.js';
import type { Peers } from '../cluster/peers.js';
import { run } from '../../src/util/exec.js';

export interface ConformanceBackend {
  name: string;
  /** Extra `bpfproxy run` flags for this backend on one node of the test topology. */
  args(runId: string, node: string, cgroup?: string): string[];
  /** Whether clients in the node namespace need a cgroup of their own (eBPF socket LB). */
  nodeCgroup?: boolean;
  /** Deletes part of what the backend programmed in `nodeNs`, as an admin's mistake would. */
  tamper(nodeNs: string, runId: string, node: string): Promise<void>;
  unsupported: Record<string, string>;
  /** Packets a fast path in front of the main one handled on `node` so far (ebpf: xdp_lb's
   * counters); absent for backends without one. */
  fastPathPackets?(runId: string, node: string): Promise<number>;
  /** How long a case waits for one change to reach the kernel in the qemu guest, when the
   * suite's default (15 s) is too short for this proxy's syncs there. */
  guestSyncDeadlineMs?: number;
  /** A reference proxy (the real kube-proxy) instead of bpfproxy: source=kubernetes only. */
  reference?(peers: Peers, at: { netns: string; kubeconfig: string; nodeName: string; extraArgs: string[] }): NodeProxy;
}

/** iptables (ours and kube-proxy's): the service dispatch chain emptied. */
const flushKubeServices = async (ns: string) => void (await nsRun(ns, 'iptables', ['-w', '5', '-t', 'nat', '-F', 'KUBE-SERVICES']));

const pinRoot = (runId: string, node: string) => `/sys/fs/bpf/${runId}-${node}`;

/** --cluster-cidr of every column: the pod CIDRs of both families (the topology is dual-stack). */
const CLUSTER_CIDRS = '198.18.0.0/16,2001:db8:18::/48';

/** Why a 1 s ClientIP timeout cannot be seen to pass in IPVS mode (ours and kube-proxy's). */
const IPVS_AFFINITY_TIMEOUT =
  'IPVS persistence templates do not expire while connections they created exist, and closed TCP connections stay in IPVS TIME_WAIT for a fixed 120 s, so a 1 s ClientIP timeout lasts ≥ 2 min (kubernetes/kubernetes#89358)';

export const BACKENDS: Record<string, ConformanceBackend> = {
  iptables: {
    name: 'iptables',
    args: () => ['--cluster-cidr', CLUSTER_CIDRS],
    tamper: flushKubeServices,
    unsupported: {},
  },
  ebpf: {
    name: 'ebpf',
    // The socket LB on the node's own test cgroup, never on this machine's cgroup root (its default).
    // XDP native on the veth underlay: the topology's ports finish checksums (`tx off`), which
    // is what --xdp=auto cannot know of a veth, so it would leave them to tc; and the pods'
    // eth0 run GRO (NAPI), so XDP may redirect into their veths (--xdp-local-redirect).
    args: (runId, node, cgroup) => ['--cluster-cidr', CLUSTER_CIDRS, '--bpf-pin-root', pinRoot(runId, node), '--xdp=native', '--xdp-local-redirect', ...(cgroup ? ['--cgroup-path', cgroup] : ['--socket-lb=false'])],
    nodeCgroup: true,
    async tamper(_ns, runId, node) {
      // Empty the services map: every VIP lookup misses until the proxy rewrites it.
      const map = `${pinRoot(runId, node)}/services`;
      const dump = await run('bpftool', ['-j', 'map', 'dump', 'pinned', map]);
      for (const e of JSON.parse(dump.stdout) as Array<{ key: string[] }>) {
        await run('bpftool', ['map', 'delete', 'pinned', map, 'key', 'hex', ...e.key.map((b) => b.replace(/^0x/, ''))]);
      }
    },
    async fastPathPackets(runId, node) {
      // The pinned dp_stats, read in this process (a per-CPU array: summed over CPUs).
      const { libbpf } = await import('../../src/backends/ebpf/libbpf.js');
      const { readDatapathStats } = await import('../../src/backends/ebpf/stats.js');
      const fd = libbpf.getPinned(`${pinRoot(runId, node)}/dp_stats`);
      try {
        const s = readDatapathStats(fd);
        return s.packets.xdp_new! + s.packets.xdp_established!;
      } finally {
        libbpf.closeFd(fd);
      }
    },
    unsupported: {},
  },
  'kube-proxy/iptables': kubeProxy('iptables', {
    // kube-proxy rewrites a flushed KUBE-SERVICES only at its hourly full sync. What it
    // watches for is a firewall reload: its canary chain gone from every table.
    async tamper(ns) {
      for (const table of ['mangle', 'nat', 'filter']) for (const op of ['-F', '-X']) await nsRun(ns, 'iptables', ['-w', '5', '-t', table, op]);
    },
    unsupported: {
      'cleanup-leaves-nothing':
        'kube-proxy --cleanup leaves the KUBE-FIREWALL chain and its INPUT/OUTPUT jumps (the "block incoming localnet connections" rule guarding localhost NodePorts), so the node differs from before',
    },
  }),
  'kube-proxy/nftables': kubeProxy('nftables', {
    async tamper(ns) {
      await nsRun(ns, 'nft', ['delete', 'table', 'ip', 'kube-proxy']);
    },
    unsupported: {
      'localhost-nodeport': "kube-proxy's nftables mode serves localhost NodePorts only with the alpha KubeProxyNFTablesLocalhostNodePorts gate (TCP) and --nodeport-addresses localhost",
      'restored-after-tamper':
        "kube-proxy's nftables mode does not watch its table: after `nft delete table ip kube-proxy` its partial syncs leave it gone (seen here: not back within the case's 12 s); only a full sync (forced hourly) or a restart rebuilds it",
    },
  }),
  'kube-proxy/ipvs': kubeProxy('ipvs', {
    async tamper(ns) {
      await nsRun(ns, 'ipvsadm', ['--clear']);
    },
    // Under TCG one sync of kube-proxy's IPVS proxier takes 8–13 s (measured; it runs
    // ipset and iptables tools per set and family, each start ~0.5 s there), and it writes
    // the virtual servers before the ipsets that masquerade them: a change is served right
    // only when the whole sync is done. There it also keeps its default 30 s sync period
    // (kube-proxy-process.ts), so a tampered table is repaired within 30 s + one sync.
    guestSyncDeadlineMs: 60_000,
    unsupported: {
      'cleanup-leaves-nothing':
        'kube-proxy --cleanup --proxy-mode=ipvs exits 1 (v1.37.2, seen in the guest): its iptables-mode teardown runs first and cannot delete KUBE-MARK-MASQ and KUBE-PROXY-FIREWALL, which the IPVS-mode rules still reference ("CHAIN_DEL failed (Device or resource busy)")',
      'localhost-nodeport': "kube-proxy's IPVS mode does not serve NodePorts on 127.0.0.1 (its --nodeport-addresses help: loopback only in iptables mode)",
      'clientip-affinity-timeout': IPVS_AFFINITY_TIMEOUT,
      'ipv6-clientip-affinity-timeout': IPVS_AFFINITY_TIMEOUT,
    },
  }),
  ipvs: {
    name: 'ipvs',
    args: () => ['--cluster-cidr', CLUSTER_CIDRS],
    async tamper(ns) {
      // Every virtual server gone: the VIPs still sit on kube-ipvs0 but nothing balances them.
      await nsRun(ns, 'ipvsadm', ['--clear']);
    },
    unsupported: {
      'localhost-nodeport': "kube-proxy's IPVS mode does not serve NodePorts on 127.0.0.1 either (its --nodeport-addresses help: loopback only in iptables mode)",
      'clientip-affinity-timeout': IPVS_AFFINITY_TIMEOUT,
      'ipv6-clientip-affinity-timeout': IPVS_AFFINITY_TIMEOUT,
    },
  },
};

/** The real kube-proxy in `mode`, with the flags the bpfproxy columns get (--cluster-cidr). */
function kubeProxy(mode: KubeProxyMode, b: Pick<ConformanceBackend, 'tamper' | 'unsupported' | 'guestSyncDeadlineMs'>): ConformanceBackend {
  return {
    name: `kube-proxy/${mode}`,
    args: () => [`--cluster-cidr=${CLUSTER_CIDRS}`],
    ...b,
    reference: (peers, at) => new KubeProxyProcess({ binary: peers.kubeProxy, mode, ...at }),
  };
}
