// Backends the suite runs against, and the cases each cannot run (with the reason the
// matrix prints). A backend that is not listed as unsupporting a case must pass it.
import { nsRun } from '../harness/netns.js';
import { run } from '../../src/util/exec.js';

export interface ConformanceBackend {
  name: string;
  /** Extra `bpfproxy run` flags for this backend on one node of the test topology. */
  args(runId: string, node: string): string[];
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
    args: (runId, node) => ['--cluster-cidr', '198.18.0.0/16', '--bpf-pin-root', pinRoot(runId, node)],
    async tamper(_ns, runId, node) {
      // Empty the services map: every VIP lookup misses until the proxy rewrites it.
      const map = `${pinRoot(runId, node)}/services`;
      const dump = await run('bpftool', ['-j', 'map', 'dump', 'pinned', map]);
      for (const e of JSON.parse(dump.stdout) as Array<{ key: string[] }>) {
        await run('bpftool', ['map', 'delete', 'pinned', map, 'key', 'hex', ...e.key.map((b) => b.replace(/^0x/, ''))]);
      }
    },
    unsupported: {},
  },
};
