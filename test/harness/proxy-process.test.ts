// A test's bpfproxy never attaches the socket LB to this machine's cgroup root.
import { describe, expect, it } from 'vitest';
import { ProxyProcess, socketLbGuard } from './proxy-process.js';

describe('ProxyProcess socket LB guard', () => {
  it('ebpf without --cgroup-path gets --socket-lb=false; with one, or an explicit --socket-lb, nothing is added', () => {
    expect(socketLbGuard('ebpf', ['--bpf-pin-root', '/sys/fs/bpf/x'])).toEqual(['--socket-lb=false']);
    expect(socketLbGuard('ebpf', ['--cgroup-path', '/sys/fs/cgroup/t'])).toEqual([]);
    expect(socketLbGuard('ebpf', ['--cgroup-path=/sys/fs/cgroup/t'])).toEqual([]);
    expect(socketLbGuard('ebpf', ['--socket-lb=false'])).toEqual([]);
    expect(socketLbGuard('iptables', [])).toEqual([]);
  });

  it('run, inspect and --cleanup all carry it', () => {
    const p = new ProxyProcess({ backend: 'ebpf', netns: 'n', nodeName: 'node-a', manifests: '/m', extraArgs: ['--bpf-pin-root', '/sys/fs/bpf/x'] });
    expect(p.args()).toContain('--socket-lb=false');
  });
});
