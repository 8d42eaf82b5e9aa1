// The one log line a kernel without bpf_sock_destroy gets (pure: from the load error).
import { describe, expect, it } from 'vitest';
import { BpfError } from '../../../src/backends/ebpf/libbpf.js';
import { kfuncMissingReason } from '../../../src/backends/ebpf/sock-destroy.js';

const loadError = (log: string) => new BpfError('load bpf/.output/sock_destroy.bpf.o', 3, 'ESRCH', 'load: No such process (ESRCH)', log);

describe('why the kfunc is not used', () => {
  it("names the kfunc and the kernel that has it, from libbpf's missing-ksym message (a 6.1 kernel)", () => {
    const log = "libbpf: extern (func ksym) 'bpf_sock_destroy': not found in kernel or module BTFs\nlibbpf: failed to load object 'sock_destroy_bpf'\n";
    expect(kfuncMissingReason(loadError(log))).toBe('the kernel has no bpf_sock_destroy kfunc (added in Linux 6.5)');
  });

  it('names missing socket iterators, else quotes the error and the last line of the log', () => {
    expect(kfuncMissingReason(loadError("libbpf: prog 'sock_destroy_udp': failed to find kernel BTF type ID of 'bpf_iter_udp'\n"))).toBe('the kernel has no TCP/UDP socket iterators (Linux 5.9+)');
    expect(kfuncMissingReason(loadError('verifier said no\nprocessed 12 insns\n'))).toBe('sock_destroy.bpf.o did not load: load: No such process (ESRCH) (processed 12 insns)');
  });
});
