// Where the socket LB attaches by default: the node's cgroup2 mount, found in mountinfo (pure).
import { describe, expect, it } from 'vitest';
import { cgroup2Mounts, socketLbTarget } from '../../../src/backends/ebpf/socket-lb.js';

/** mountinfo lines as proc(5) prints them (optional fields before the "-"). */
const UNIFIED = [
  '22 27 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot',
  '27 22 0:24 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:10 - bpf bpf rw,mode=700',
].join('\n');
const HYBRID = [
  '25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755',
  '26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate',
  '27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd',
].join('\n');
/** A container in its own cgroup namespace with the host's cgroup2 bind-mounted elsewhere. */
const CONTAINER = [
  '700 690 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw',
  '701 690 0:23 /../../.. /run/host\\040cgroup rw,nosuid,nodev,noexec,relatime master:9 - cgroup2 cgroup2 rw',
].join('\n');

describe('socket LB target', () => {
  it('lists cgroup2 mounts only, with escaped mount points decoded', () => {
    expect(cgroup2Mounts(HYBRID)).toEqual([{ mountPoint: '/sys/fs/cgroup/unified', root: '/' }]);
    expect(cgroup2Mounts(CONTAINER)).toEqual([{ mountPoint: '/sys/fs/cgroup', root: '/' }, { mountPoint: '/run/host cgroup', root: '/../../..' }]);
  });

  it('default: the cgroup2 root of a unified or a hybrid host', () => {
    expect(socketLbTarget({ enabled: true, mountinfo: () => UNIFIED })).toEqual({ cgroupPath: '/sys/fs/cgroup', source: 'the cgroup2 mount (default)' });
    expect(socketLbTarget({ enabled: true, mountinfo: () => HYBRID })).toMatchObject({ cgroupPath: '/sys/fs/cgroup/unified' });
  });

  it('a mount showing the whole hierarchy wins; one showing a subtree is used with a warning', () => {
    expect(socketLbTarget({ enabled: true, mountinfo: () => CONTAINER })).toMatchObject({ cgroupPath: '/sys/fs/cgroup' });
    // The DaemonSet: the host's cgroup2 root on /sys/fs/cgroup, seen from the pod's own cgroup namespace.
    const daemonSet = socketLbTarget({ enabled: true, mountinfo: () => '900 880 0:23 /../../../.. /sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw' });
    expect(daemonSet).toEqual({ cgroupPath: '/sys/fs/cgroup', source: 'the cgroup2 mount (default)' });
    const sub = socketLbTarget({ enabled: true, mountinfo: () => '30 1 0:23 /kubepods.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw' });
    expect(sub).toMatchObject({ cgroupPath: '/sys/fs/cgroup', warning: expect.stringContaining('shows /kubepods.slice of the hierarchy') });
  });

  it('no cgroup2 at all: off, saying why and what to do', () => {
    const t = socketLbTarget({ enabled: true, mountinfo: () => HYBRID.replace('cgroup2 cgroup2', 'cgroup cgroup') });
    expect(t).toEqual({ off: expect.stringMatching(/^no cgroup2 mount in \/proc\/self\/mountinfo .*--cgroup-path/) });
  });

  it('--cgroup-path wins without reading the mount table; --socket-lb=false turns it off', () => {
    const never = () => {
      throw new Error('mountinfo read');
    };
    expect(socketLbTarget({ enabled: true, cgroupPath: '/sys/fs/cgroup/test-1', mountinfo: never })).toEqual({ cgroupPath: '/sys/fs/cgroup/test-1', source: '--cgroup-path' });
    expect(socketLbTarget({ enabled: false, mountinfo: never })).toEqual({ off: '--socket-lb=false' });
    expect(() => socketLbTarget({ enabled: false, cgroupPath: '/x', mountinfo: never })).toThrow('--cgroup-path: given with --socket-lb=false');
    expect(() => socketLbTarget({ enabled: true, cgroupPath: '', mountinfo: never })).toThrow('--cgroup-path: must not be empty');
  });
});
