// --socket-lb, --cgroup-path, --socket-lb-host-netns-only as the ebpf backend's settings.
// (Parsing only: nothing here attaches anything.)
import { describe, expect, it } from 'vitest';
import { optionsFrom, parseArgv } from '../../src/cli/options.js';

const opts = (...argv: string[]) => optionsFrom(parseArgv(['run', '--manifests', '/nonexistent', ...argv]).values).opts.backendConfig;

describe('socket LB flags', () => {
  it('an explicit --cgroup-path, optionally limited to the node netns', () => {
    expect(opts('--cgroup-path', '/sys/fs/cgroup/t')).toMatchObject({ cgroupPath: '/sys/fs/cgroup/t', cgroupPathSource: '--cgroup-path', socketLbHostNetnsOnly: false });
    expect(opts('--cgroup-path=/sys/fs/cgroup/t', '--socket-lb-host-netns-only')).toMatchObject({ socketLbHostNetnsOnly: true });
  });

  it('--socket-lb=false: no cgroup, and the reason for the log', () => {
    const c = opts('--socket-lb=false');
    expect(c.cgroupPath).toBeUndefined();
    expect(c.socketLbOff).toBe('--socket-lb=false');
  });

  it('default on ebpf: some cgroup2 mount or a reason, never both', () => {
    const c = opts();
    expect((c.cgroupPath === undefined) !== (c.socketLbOff === undefined)).toBe(true);
  });

  it('other backends have no socket LB to configure', () => {
    expect(opts('--backend=iptables')).not.toHaveProperty('cgroupPath');
  });

  it('refuses a value that is not true/false, and a path with the socket LB off', () => {
    expect(() => opts('--socket-lb=no')).toThrow('--socket-lb: want true or false, got "no"');
    expect(() => opts('--socket-lb=false', '--cgroup-path', '/x')).toThrow('--cgroup-path: given with --socket-lb=false');
  });
});
