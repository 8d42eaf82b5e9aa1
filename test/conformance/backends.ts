// Backends the suite runs against, and the cases each cannot run (with the reason the
// matrix prints). A backend that is not listed as unsupporting a case must pass it.
export interface ConformanceBackend {
  name: string;
  /** Extra `bpfproxy run` flags for this backend on one node of the test topology. */
  args(runId: string, node: string): string[];
  unsupported: Record<string, string>;
}

export const BACKENDS: Record<string, ConformanceBackend> = {
  iptables: {
    name: 'iptables',
    args: () => ['--cluster-cidr', '198.18.0.0/16'],
    unsupported: {},
  },
  ebpf: {
    name: 'ebpf',
    args: (runId, node) => ['--cluster-cidr', '198.18.0.0/16', '--bpf-pin-root', `/sys/fs/bpf/${runId}-${node}`],
    unsupported: {},
  },
};
