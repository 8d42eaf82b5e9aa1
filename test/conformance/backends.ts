// Backends the suite runs against, and the cases each cannot run (with the reason the
// matrix prints). A backend that is not listed as unsupporting a case must pass it.
export interface ConformanceBackend {
  name: string;
  /** Extra `bpfproxy run` flags for this backend inside the test topology. */
  args(runDir: string): string[];
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
    args: (runDir) => ['--bpf-pin-root', `/sys/fs/bpf/${runDir}`],
    unsupported: {},
  },
};
