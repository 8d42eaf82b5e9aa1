// Where xdp_lb hooks in: the node's external interface(s), i.e. the Ethernet interfaces that
// hold one of the Node's IPv4 addresses (what NodePorts answer on and where external and LB
// IP traffic arrives). Pod veths keep tc_lb alone, and so do veth external interfaces under
// the default --xdp=auto (VETH_AUTO_REASON). A mode the driver or kernel refuses is
// said once, clearly, and the interface stays served by tc_lb (which is always there).
import { execFile } from 'node:child_process';
import { isIPv4 } from 'node:net';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { BpfError, libbpf, type XdpMode, type XdpState } from './libbpf.js';

/** auto (default): native, except on veth interfaces (see VETH_AUTO_REASON). */
export type XdpSetting = XdpMode | 'auto' | 'off';
export const XDP_SETTINGS: readonly XdpSetting[] = ['auto', 'native', 'generic', 'off'];
/**
 * Why auto leaves veths to tc_lb. A packet a local socket sent across veths (kind and other
 * container-based nodes: the host, or another node, reaching a NodePort over a bridge) still
 * carries CHECKSUM_PARTIAL: its L4 field holds only the pseudo-header sum. XDP sees bytes, not
 * that state, so its incremental rewrite yields a checksum the pod drops; tc_lb's helpers
 * know the skb's state. veth does not finish checksums when XDP is attached (NIC drivers
 * that run native XDP turn such offloads off). `--xdp=native` still takes veths, for networks
 * whose peers finish checksums (`ethtool -K <peer> tx off`), as the test topology does.
 */
export const VETH_AUTO_REASON =
  'veth: packets sent by local sockets across veths carry partial checksums that XDP cannot see; tc_lb serves it (--xdp=native forces XDP where the veth peers finish checksums)';
/** The program's kernel name (bpf_prog_info.name): how a restarted proxy or --cleanup knows it. */
export const XDP_PROG_NAME = 'xdp_lb';

export function parseXdpSetting(v: string): XdpSetting {
  if ((XDP_SETTINGS as readonly string[]).includes(v)) return v as XdpSetting;
  throw new Error(`--xdp: want ${XDP_SETTINGS.join(', ')}, got ${JSON.stringify(v)}`);
}

/** One link of `ip -j addr show` (the fields used). */
export interface LinkAddrs {
  ifindex: number;
  ifname: string;
  link_type?: string;
  flags?: string[];
  /** With `ip -d`: the link kind (veth, bridge, …); absent on plain devices. */
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family?: string; local?: string }>;
}

/** The Ethernet, non-loopback interfaces holding one of `nodeAddresses` (IPv4), by name. */
export function externalInterfaces(links: readonly LinkAddrs[], nodeAddresses: readonly string[]): Array<{ name: string; index: number; veth: boolean }> {
  const want = new Set(nodeAddresses.filter((a) => isIPv4(a)));
  return links
    .filter((l) => l.link_type === 'ether' && !l.flags?.includes('LOOPBACK'))
    .filter((l) => (l.addr_info ?? []).some((a) => a.family === 'inet' && a.local !== undefined && want.has(a.local)))
    .map((l) => ({ name: l.ifname, index: l.ifindex, veth: l.linkinfo?.info_kind === 'veth' }));
}

async function listLinkAddrs(netns?: string): Promise<LinkAddrs[]> {
  const argv = [...(netns ? ['nsenter', `--net=${netns}`] : []), 'ip', '-j', '-d', 'addr', 'show'];
  const { stdout } = await promisify(execFile)(argv[0]!, argv.slice(1));
  return JSON.parse(stdout) as LinkAddrs[];
}

/** What one interface has: our program in a mode, or why not. */
export interface XdpIfaceState { interface: string; mode: XdpMode | 'none'; progId: number; error?: string }

/** Whether the XDP program with this id is ours (by kernel name). */
function isOurs(id: number): boolean {
  if (!id) return false;
  let fd: number;
  try {
    fd = libbpf.progFdById(id);
  } catch {
    return false;
  }
  try {
    return libbpf.progInfo(fd).name === XDP_PROG_NAME;
  } finally {
    libbpf.closeFd(fd);
  }
}

/** Our program attached to each interface of `netns` (mode none: attached nowhere). */
export async function xdpAttachments(netns?: string): Promise<XdpIfaceState[]> {
  const out: XdpIfaceState[] = [];
  for (const i of await libbpf.listInterfaces(netns)) {
    if (i.loopback) continue;
    let q: XdpState;
    try {
      q = await libbpf.xdpQuery({ netns, ifindex: i.index, ifname: i.name });
    } catch {
      continue; // gone meanwhile
    }
    if (isOurs(q.nativeId)) out.push({ interface: i.name, mode: 'native', progId: q.nativeId });
    else if (isOurs(q.genericId)) out.push({ interface: i.name, mode: 'generic', progId: q.genericId });
  }
  return out;
}

/** Detaches xdp_lb (any mode) from every interface of `netns`; other XDP programs stay. */
export async function detachXdpEverywhere(netns?: string, except?: { mode: XdpMode; names: ReadonlySet<string> }): Promise<string[]> {
  const out: string[] = [];
  for (const a of await xdpAttachments(netns)) {
    if (a.mode === 'none' || (except && except.mode === a.mode && except.names.has(a.interface))) continue;
    if (await libbpf.xdpDetach({ netns, ifname: a.interface }, a.mode)) out.push(a.interface);
  }
  return out;
}

/** Keeps xdp_lb on the node's external interfaces, in the one mode asked for. */
export class XdpAttacher {
  private readonly state = new Map<string, XdpIfaceState>();
  /** interface → the error already logged (said once, retried only on a verify). */
  private readonly refused = new Map<string, string>();
  private readonly progId: number;
  /** Interfaces were scanned for xdp_lb left elsewhere (done once, then on verify only). */
  private scanned = false;
  readonly mode: XdpMode;
  /** auto: veths stay with tc_lb (VETH_AUTO_REASON); said once per interface. */
  private readonly skipVeth: boolean;
  private readonly vethSaid = new Set<string>();

  constructor(
    private readonly progFd: number,
    setting: Exclude<XdpSetting, 'off'>,
    private readonly log: Logger,
    private readonly netns?: string,
  ) {
    this.progId = libbpf.progInfo(progFd).id;
    this.mode = setting === 'auto' ? 'native' : setting;
    this.skipVeth = setting === 'auto';
  }

  /** Attaches where missing; replaces an older xdp_lb in place (same mode: one netlink call,
   * no gap); detaches it where the interface no longer holds a node address. */
  async ensure(nodeAddresses: readonly string[], opts: { verify?: boolean } = {}): Promise<{ attached: string[]; failed: string[] }> {
    const ext = externalInterfaces(await listLinkAddrs(this.netns), nodeAddresses).filter((e) => {
      if (!this.skipVeth || !e.veth) return true;
      if (!this.vethSaid.has(e.name)) this.log.info({ interface: e.name }, `--xdp=auto: no XDP on ${e.name}: ${VETH_AUTO_REASON}`);
      this.vethSaid.add(e.name);
      return false;
    });
    const names = new Set(ext.map((e) => e.name));
    const res = { attached: [] as string[], failed: [] as string[] };
    if (opts.verify) this.refused.clear();
    // Ours elsewhere, or in the other mode (a restart with another --xdp): off first. Every
    // interface is asked, so only at the first call and on a verify.
    const gone = !this.scanned || opts.verify ? await detachXdpEverywhere(this.netns, { mode: this.mode, names }) : [];
    this.scanned = true;
    for (const n of gone) this.state.delete(n);
    if (gone.length) this.log.info({ interfaces: gone }, 'xdp_lb detached (not an external interface, or another mode)');
    for (const n of [...this.state.keys()]) if (!names.has(n)) this.state.delete(n);
    for (const i of ext) {
      if (this.refused.has(i.name)) continue;
      const have = this.state.get(i.name);
      if (have && have.mode === this.mode && !opts.verify) continue;
      try {
        const q = await libbpf.xdpQuery({ netns: this.netns, ifindex: i.index, ifname: i.name });
        if ((this.mode === 'native' ? q.nativeId : q.genericId) === this.progId) {
          this.state.set(i.name, { interface: i.name, mode: this.mode, progId: this.progId });
          continue;
        }
        const id = await libbpf.xdpAttach({ netns: this.netns, ifindex: i.index, ifname: i.name }, this.mode, this.progFd);
        this.state.set(i.name, { interface: i.name, mode: this.mode, progId: id });
        res.attached.push(i.name);
      } catch (e) {
        if (e instanceof BpfError && (e.code === 'ENODEV' || e.code === 'ENXIO')) continue;
        const err = e instanceof BpfError ? `${e.code} (${e.message})` : String(e);
        this.state.set(i.name, { interface: i.name, mode: 'none', progId: 0, error: err });
        this.refused.set(i.name, err);
        res.failed.push(i.name);
        this.log.warn(
          { interface: i.name, mode: this.mode, err },
          `XDP ${this.mode} mode is not available on ${i.name}: ${err}; tc_lb alone serves it (try --xdp=generic, or --xdp=off to silence this)`,
        );
      }
    }
    return res;
  }

  /** For metrics and logs: each external interface, and what it has. */
  status(): XdpIfaceState[] {
    return [...this.state.values()].sort((a, b) => a.interface.localeCompare(b.interface));
  }
}
