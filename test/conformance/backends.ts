// Backends the suite runs against, and the cases each cannot run (with the reason the
// matrix prints). A backend that is not listed as unsupporting a case must pass it.
import { nsRun } from '../harness/netns.js';
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
}

const pinRoot = (runId: string, node: string) => `/sys/fs/bpf/${runId}-${node}`;

export const BACKENDS: Record<string, ConformanceBackend> = {
  iptables: {
    name: 'iptables',
    args: () => ['--cluster-cidr', '198.18.0.0/16'],
    async tamper(ns) {
      await nsRun(ns, 'iptables', ['-w', '5', '-t', 'nat', '-F', 'KUBE-SERVICES']);
    },
    unsupported: {},
  },
  ebpf: {
    name: 'ebpf',
    args: (runId, node, cgroup) => ['--cluster-cidr', '198.18.0.0/16', '--bpf-pin-root', pinRoot(runId, node), ...(cgroup ? ['--cgroup-path', cgroup] : [])],
    nodeCgroup: true,
    async tamper(_ns, runId, node) {
      // Empty the services map: every VIP lookup misses until the proxy rewrites it.
      const map = `${pinRoot(runId, node)}/services`;
      const dump = await run('bpftool', ['-j', 'map', 'dump', 'pinned', map]);
      for (const e of JSON.parse(dump.stdout) as Array<{ key: string[] }>) {
        await run('bpftool', ['map', 'delete', 'pinned', map, 'key', 'hex', ...e.key.map((b) => b.replace(/^0x/, ''))]);
      }
    },
    unsupported: {
      // IPv6 needs 16-byte-address service/backend/conntrack maps; until then IPv6 services are skipped with a logged reason.
      'ipv6-clusterip': 'not implemented: the eBPF data plane is IPv4-only so far',
    },
  },
  ipvs: {
    name: 'ipvs',
    args: () => ['--cluster-cidr', '198.18.0.0/16'],
    async tamper(ns) {
      // Every virtual server gone: the VIPs still sit on kube-ipvs0 but nothing balances them.
      await nsRun(ns, 'ipvsadm', ['--clear']);
    },
    unsupported: {
      'clientip-affinity-timeout':
        'IPVS persistence templates do not expire while connections they created exist, and closed TCP connections stay in IPVS TIME_WAIT for a fixed 120 s, so a 1 s ClientIP timeout lasts ≥ 2 min (kubernetes/kubernetes#89358)',
    },
  },
};
