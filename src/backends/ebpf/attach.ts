// Where the programs hook in: tc ingress on every non-loopback interface of the node netns,
// cgroup v2 sock_addr hooks for clients in the node netns. Both are idempotent and replace
// a previous controller's program in place (no window without a program).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as abi from './abi.js';
import { ARPHRD_ETHER, BpfError, libbpf, type Interface, type ProgramDesc, type TcTarget } from './libbpf.js';

export interface TcAttachResult {
  attached: string[];
  errors: BpfError[];
}

/** The two builds of tc_lb: for Ethernet interfaces, and for L3 ones (no link-layer header). */
export interface TcPrograms { ethernet: number; l3: number }

/** Keeps tc_lb attached on every interface (tc_lb_l3 where the hardware type is not
 * Ethernet: IPIP, WireGuard, tun); remembers ifindexes already done by this controller. */
export class TcAttacher {
  private readonly done = new Map<number, string>();
  private readonly ids: { ethernet: number; l3: number };

  constructor(private readonly progs: TcPrograms, private readonly netns?: string) {
    this.ids = { ethernet: libbpf.progInfo(progs.ethernet).id, l3: libbpf.progInfo(progs.l3).id };
  }

  /** Which build an interface gets. An unknown type (-1) is taken as Ethernet, as before. */
  static kind(i: Pick<Interface, 'hwType'>): keyof TcPrograms {
    return i.hwType === ARPHRD_ETHER || i.hwType === -1 ? 'ethernet' : 'l3';
  }

  private target(ifindex: number, ifname: string): TcTarget {
    return { netns: this.netns, ifindex, ifname, direction: 'ingress', handle: abi.TC_HANDLE, priority: abi.TC_PRIORITY };
  }

  /** Attaches where missing (new veths since the last call); returns what it attached.
   * With `verify`, asks the kernel about every interface instead of trusting what we
   * attached before: another agent may have deleted or replaced our filter. */
  async ensure(opts: { verify?: boolean } = {}): Promise<TcAttachResult> {
    const ifaces = (await libbpf.listInterfaces(this.netns)).filter((i) => !i.loopback);
    const present = new Set(ifaces.map((i) => i.index));
    for (const idx of this.done.keys()) if (!present.has(idx)) this.done.delete(idx);
    const res: TcAttachResult = { attached: [], errors: [] };
    for (const i of ifaces) {
      const kind = TcAttacher.kind(i);
      if (this.done.get(i.index) === i.name && !(opts.verify && (await this.missing(i.index, i.name, kind)))) continue;
      try {
        await libbpf.tcAttach(this.target(i.index, i.name), this.progs[kind]);
        this.done.set(i.index, i.name);
        res.attached.push(i.name);
      } catch (e) {
        // An interface that vanished between listing and attaching is not an error.
        if (e instanceof BpfError && (e.code === 'ENODEV' || e.code === 'ENXIO')) continue;
        res.errors.push(e as BpfError);
      }
    }
    return res;
  }

  /** Whether our program is not (or no longer) the filter at our handle/priority. */
  private async missing(ifindex: number, ifname: string, kind: keyof TcPrograms): Promise<boolean> {
    try {
      return (await libbpf.tcQuery(this.target(ifindex, ifname))) !== this.ids[kind];
    } catch {
      return true; // no clsact any more: attaching recreates it
    }
  }
}

/** Whether an interface's clsact qdisc holds no filter at all (iproute2 lists them; the
 * libbpf we build against cannot). */
async function clsactEmpty(ifname: string, netns?: string): Promise<boolean> {
  const run = promisify(execFile);
  const prefix = netns ? ['nsenter', `--net=${netns}`] : [];
  for (const dir of ['ingress', 'egress']) {
    const argv = [...prefix, 'tc', 'filter', 'show', 'dev', ifname, dir];
    const { stdout } = await run(argv[0]!, argv.slice(1));
    if (stdout.trim() !== '') return false;
  }
  return true;
}

/** Removes our tc filter (handle/priority) from every interface, and the clsact qdisc
 * when nothing else uses it; other filters stay. */
export async function detachTcEverywhere(netns?: string): Promise<string[]> {
  const out: string[] = [];
  for (const i of await libbpf.listInterfaces(netns)) {
    if (i.loopback) continue;
    const t: TcTarget = { netns, ifindex: i.index, ifname: i.name, direction: 'ingress', handle: abi.TC_HANDLE, priority: abi.TC_PRIORITY };
    if (!(await libbpf.tcDetach(t))) continue;
    out.push(i.name);
    try {
      if (await clsactEmpty(i.name, netns)) await libbpf.tcHookDestroy({ netns, ifindex: i.index, ifname: i.name });
    } catch {
      // no iproute2 or the interface went away: an empty clsact is harmless
    }
  }
  return out;
}

/** Kernel program names are cut at 15 characters. */
function kernelName(name: string): string {
  return name.slice(0, 15);
}

/** Attaches each cgroup program, atomically replacing a same-named one already there. */
export function attachCgroup(cgroupPath: string, progs: readonly ProgramDesc[]): void {
  for (const p of progs) {
    const ids = libbpf.cgroupQuery(cgroupPath, p.expectedAttachType);
    const mine = libbpf.progInfo(p.fd).id;
    let replaced = false;
    for (const id of ids) {
      if (id === mine) {
        replaced = true;
        continue;
      }
      const fd = libbpf.progFdById(id);
      try {
        if (libbpf.progInfo(fd).name !== kernelName(p.name)) continue;
        if (!replaced) {
          libbpf.cgroupAttach(cgroupPath, p.fd, p.expectedAttachType, fd);
          replaced = true;
        } else {
          libbpf.cgroupDetach(cgroupPath, fd, p.expectedAttachType); // duplicates of older runs
        }
      } finally {
        libbpf.closeFd(fd);
      }
    }
    if (!replaced) libbpf.cgroupAttach(cgroupPath, p.fd, p.expectedAttachType);
  }
}

/** Detaches every program named like ours from the cgroup (works without loading anything). */
export function detachCgroup(cgroupPath: string, names: readonly string[], attachTypes: readonly number[]): number {
  const wanted = new Set(names.map(kernelName));
  let n = 0;
  for (const type of attachTypes) {
    for (const id of libbpf.cgroupQuery(cgroupPath, type)) {
      const fd = libbpf.progFdById(id);
      try {
        if (wanted.has(libbpf.progInfo(fd).name) && libbpf.cgroupDetach(cgroupPath, fd, type)) n++;
      } finally {
        libbpf.closeFd(fd);
      }
    }
  }
  return n;
}

/** sock_lb.bpf.c's programs and their attach types (enum bpf_attach_type), for cleanup. */
export const SOCK_PROGRAMS: ReadonlyArray<{ name: string; attachType: number }> = [
  { name: 'sock_connect4', attachType: 10 }, // BPF_CGROUP_INET4_CONNECT
  { name: 'sock_sendmsg4', attachType: 14 }, // BPF_CGROUP_UDP4_SENDMSG
  { name: 'sock_recvmsg4', attachType: 19 }, // BPF_CGROUP_UDP4_RECVMSG
  { name: 'sock_getpeername4', attachType: 29 }, // BPF_CGROUP_INET4_GETPEERNAME
  { name: 'sock_connect6', attachType: 11 }, // BPF_CGROUP_INET6_CONNECT
  { name: 'sock_sendmsg6', attachType: 15 }, // BPF_CGROUP_UDP6_SENDMSG
  { name: 'sock_recvmsg6', attachType: 20 }, // BPF_CGROUP_UDP6_RECVMSG
  { name: 'sock_getpeername6', attachType: 30 }, // BPF_CGROUP_INET6_GETPEERNAME
];
