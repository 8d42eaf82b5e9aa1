// Where the socket LB attaches (pure, given /proc/self/mountinfo): --cgroup-path, else the
// node's cgroup2 root, so host-network clients are balanced without a flag; or why it is off.

/** A cgroup2 mount: where it is, and which directory of the hierarchy it shows ("/" = all of it). */
export interface Cgroup2Mount { mountPoint: string; root: string }

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Every cgroup2 mount in mountinfo text (proc(5): fields, optional fields, "-", fstype, …). */
export function cgroup2Mounts(mountinfo: string): Cgroup2Mount[] {
  const out: Cgroup2Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f[dash + 1] !== 'cgroup2') continue;
    out.push({ mountPoint: unescape(f[4]!), root: unescape(f[3]!) });
  }
  return out;
}

export type SocketLbTarget =
  | { cgroupPath: string; source: string; warning?: string }
  | { off: string };

const PREFERRED = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'];

/**
 * Whether a mount shows the top of the hierarchy as far as we can tell: "/" is our cgroup
 * namespace's root; "/.." and above is the host's hierarchy bind-mounted into a container
 * with a cgroup namespace of its own (the DaemonSet's hostPath), which is what we want.
 */
function showsTop(root: string): boolean {
  return root === '/' || root === '/..' || root.startsWith('/../');
}

/**
 * The cgroup the socket LB attaches to. A mount that shows the top of the hierarchy wins over
 * one that shows a subtree (a bind mount of a subdirectory), then the usual places, then the
 * shortest path. Attaching to a subtree is allowed, with a warning: only processes below it
 * are balanced.
 */
export function socketLbTarget(o: { enabled: boolean; cgroupPath?: string; mountinfo: () => string }): SocketLbTarget {
  if (!o.enabled) {
    if (o.cgroupPath !== undefined) throw new Error('--cgroup-path: given with --socket-lb=false (the socket LB is off: drop one of them)');
    return { off: '--socket-lb=false' };
  }
  if (o.cgroupPath !== undefined) {
    if (o.cgroupPath === '') throw new Error('--cgroup-path: must not be empty (use --socket-lb=false to turn the socket LB off)');
    return { cgroupPath: o.cgroupPath, source: '--cgroup-path' };
  }
  const mounts = cgroup2Mounts(o.mountinfo());
  if (mounts.length === 0)
    return { off: 'no cgroup2 mount in /proc/self/mountinfo (a cgroup v1 host, or /sys/fs/cgroup not mounted): give --cgroup-path a cgroup v2 directory' };
  const rank = (m: Cgroup2Mount) => [showsTop(m.root) ? 0 : 1, PREFERRED.includes(m.mountPoint) ? PREFERRED.indexOf(m.mountPoint) : PREFERRED.length, m.mountPoint.length];
  const best = [...mounts].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    return ra[0]! - rb[0]! || ra[1]! - rb[1]! || ra[2]! - rb[2]!;
  })[0]!;
  return {
    cgroupPath: best.mountPoint,
    source: 'the cgroup2 mount (default)',
    ...(showsTop(best.root) ? {} : {
      warning: `the cgroup2 mount at ${best.mountPoint} shows ${best.root} of the hierarchy, not its root (a cgroup namespace or a bind mount): only processes below it are balanced; mount the host's cgroup2 root or give --cgroup-path`,
    }),
  };
}
