// Builds hosts as network namespaces (DESIGN.md "Test topology"): node namespaces routing
// for pods attached by veth pairs (Calico-style /32 routes; the node side of every pod
// veth carries the node's pod-gateway address), pods running the hostname server, and
// client namespaces attached like pods. Nodes sit on an underlay: a bridge in a `net`
// namespace (198.19.200.0/24, router .254) that is every node's default route, as in a
// real cluster. Only 198.18.0.0/15 and 2001:db8::/32 addresses are used. Every pod is
// dual-stack: 198.18.<n>.<h> and 2001:db8:18:<n>::<h>; the v6 underlay is 2001:db8:19:200::/64.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createNetns, deleteNetns, ip, nsRun, spawnInNetns } from './netns.js';

const POD_SERVER = fileURLToPath(new URL('./pod-server.mjs', import.meta.url));
const UNDERLAY_ROUTER = '198.19.200.254';

/**
 * GRO on a veth end turns on its NAPI receive path, which is what lets the other end's
 * native XDP send frames into it (XDP_REDIRECT into a pod's veth, XDP_TX out of a node's
 * underlay veth): without an XDP program or GRO on the receiving end, veth_xdp_xmit has no
 * queue to put the frame on and drops it. A CNI sets this up the same way (README, XDP).
 */
async function vethNapi(ns: string, dev: string): Promise<void> {
  await nsRun(ns, 'ethtool', ['-K', dev, 'gro', 'on']);
}

/**
 * A packet a local socket sends over veths keeps CHECKSUM_PARTIAL (the L4 checksum field
 * holds only the pseudo-header sum, to be finished by "hardware"), and bridging or
 * forwarding keeps that state. XDP sees bytes, not that state: its incremental checksum
 * updates assume a finished checksum, as every frame off a real wire has. The underlay port
 * facing a node therefore finishes checksums in software (tx off), so what reaches a node's
 * external interface looks like it came off a wire.
 */
async function wireChecksums(ns: string, dev: string): Promise<void> {
  await nsRun(ns, 'ethtool', ['-K', dev, 'tx', 'off']);
}

/** A pod's IPv6 twin: 198.18.<n>.<h> → 2001:db8:18:<n>::<h>. */
export function podIPv6(ipv4: string): string {
  const [, , n, h] = ipv4.split('.');
  return `2001:db8:18:${n}::${h}`;
}
export const CLIENT_SCRIPT = fileURLToPath(new URL('./client.mjs', import.meta.url));

export interface NodeHost {
  name: string;
  ns: string;
  /** Pod gateway address on the node side of every pod veth (198.18.<n>.1). */
  gateway: string;
  /** The node's own address on its underlay interface eth0, 198.19.200.<n>. */
  address: string;
  gateway6: string;
  address6: string;
}

export interface PodHost {
  name: string;
  ns: string;
  node: NodeHost;
  ip: string;
  ip6: string;
  /** Node-side veth name. */
  hostIf: string;
  server?: ChildProcess;
}

export class Topology {
  readonly nodes = new Map<string, NodeHost>();
  readonly pods = new Map<string, PodHost>();
  private readonly namespaces: string[] = [];
  private vethCount = 0;
  private underlay: string | undefined;

  constructor(readonly prefix: string) {}

  private nsName(short: string): string {
    return `${this.prefix}-${short}`;
  }

  /** A node numbered `index` (1 → pods 198.18.1.0/24, address 198.19.200.1). */
  async addNode(name: string, index: number): Promise<NodeHost> {
    const ns = this.nsName(name);
    await createNetns(ns);
    this.namespaces.push(ns);
    const node: NodeHost = {
      name,
      ns,
      gateway: `198.18.${index}.1`,
      address: `198.19.200.${index}`,
      gateway6: `2001:db8:18:${index}::1`,
      address6: `2001:db8:19:200::${index}`,
    };
    // No ICMP redirects: a node that forwards a packet back out of the underlay (an LB IP
    // before its rules exist) would tell the sender to use the router directly, and the
    // sender would cache that for 5 minutes, bypassing the node once the rules are there.
    await nsRun(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0']);
    const net = await this.ensureUnderlay();
    const port = `${this.prefix}n${index}`;
    await ip(['-n', net, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', net, 'link', 'set', port, 'master', 'br0', 'up']);
    await vethNapi(net, port);
    await wireChecksums(net, port);
    await ip(['-n', ns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns, 'addr', 'add', `${node.address6}/64`, 'dev', 'eth0', 'nodad']);
    await ip(['-n', ns, 'route', 'add', 'default', 'via', UNDERLAY_ROUTER]);
    this.nodes.set(name, node);
    return node;
  }

  /** The underlay switch: a bridge with the router address, created with the first node. */
  private async ensureUnderlay(): Promise<string> {
    if (this.underlay) return this.underlay;
    const ns = this.nsName('net');
    await createNetns(ns);
    this.namespaces.unshift(ns); // deleted last
    await ip(['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', ns, 'addr', 'add', `${UNDERLAY_ROUTER}/24`, 'dev', 'br0']);
    await ip(['-n', ns, 'addr', 'add', '2001:db8:19:200::fe/64', 'dev', 'br0', 'nodad']);
    await ip(['-n', ns, 'link', 'set', 'br0', 'up']);
    this.underlay = ns;
    return ns;
  }

  /** A pod-like host attached to `node`; `serve` starts the hostname server in it. */
  async addPod(name: string, nodeName: string, podIP: string, serve = true): Promise<PodHost> {
    const node = this.nodes.get(nodeName);
    if (!node) throw new Error(`no node ${nodeName}`);
    const ns = this.nsName(name);
    await createNetns(ns);
    this.namespaces.push(ns);
    const hostIf = `${this.prefix}v${this.vethCount++}`;
    await ip(['-n', node.ns, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', node.ns, 'link', 'set', hostIf, 'up']);
    await ip(['-n', node.ns, 'addr', 'add', `${node.gateway}/32`, 'dev', hostIf]);
    await ip(['-n', node.ns, 'route', 'add', `${podIP}/32`, 'dev', hostIf, 'src', node.gateway]);
    const ip6 = podIPv6(podIP);
    await ip(['-n', node.ns, 'addr', 'add', `${node.gateway6}/128`, 'dev', hostIf, 'nodad']);
    await ip(['-n', node.ns, 'route', 'add', `${ip6}/128`, 'dev', hostIf]);
    await ip(['-n', ns, 'addr', 'add', `${podIP}/32`, 'dev', 'eth0']);
    await ip(['-n', ns, 'addr', 'add', `${ip6}/128`, 'dev', 'eth0', 'nodad']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await vethNapi(ns, 'eth0');
    await ip(['-n', ns, 'route', 'add', `${node.gateway}/32`, 'dev', 'eth0', 'scope', 'link']);
    await ip(['-n', ns, 'route', 'add', 'default', 'via', node.gateway, 'dev', 'eth0']);
    await ip(['-n', ns, '-6', 'route', 'add', `${node.gateway6}/128`, 'dev', 'eth0']);
    await ip(['-n', ns, '-6', 'route', 'add', 'default', 'via', node.gateway6, 'dev', 'eth0']);
    const pod: PodHost = { name, ns, node, ip: podIP, ip6, hostIf };
    if (serve) pod.server = await spawnInNetns(ns, process.execPath, [POD_SERVER, '--name', name], 'ready');
    this.pods.set(name, pod);
    return pod;
  }

  /** Removes a pod: its server, its namespace, and with it both ends of its veth. */
  async removePod(name: string): Promise<void> {
    const pod = this.pod(name);
    pod.server?.kill('SIGKILL');
    await deleteNetns(pod.ns);
    this.pods.delete(name);
    this.namespaces.splice(this.namespaces.indexOf(pod.ns), 1);
  }

  /** Routes every node's pod CIDR (198.18.<n>.0/24) via that node's underlay address on all other nodes. */
  async connectNodes(): Promise<void> {
    for (const a of this.nodes.values()) {
      for (const b of this.nodes.values()) {
        if (a === b) continue;
        const cidr = b.gateway.replace(/\.1$/, '.0/24');
        await ip(['-n', a.ns, 'route', 'replace', cidr, 'via', b.address]);
        await ip(['-n', a.ns, 'route', 'replace', b.gateway6.replace(/::1$/, '::/64'), 'via', b.address6]);
      }
    }
  }

  /**
   * A host outside the cluster on the underlay (198.19.200.<host>, 2001:db8:19:200::<host>), reaching the
   * external/LoadBalancer range 198.19.250.0/24 through `viaNode`, like an upstream router would.
   */
  async addExternal(name: string, host: number, viaNode: string): Promise<PodHost> {
    const node = this.node(viaNode);
    const net = await this.ensureUnderlay();
    const ns = this.nsName(name);
    await createNetns(ns);
    this.namespaces.push(ns);
    const port = `${this.prefix}x${host}`;
    await ip(['-n', net, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', net, 'link', 'set', port, 'master', 'br0', 'up']);
    const addr = `198.19.200.${host}`;
    // Like an upstream router, it ignores ICMP redirects (see addNode).
    await nsRun(ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.accept_redirects=0', 'net.ipv4.conf.eth0.accept_redirects=0', 'net.ipv6.conf.all.accept_redirects=0', 'net.ipv6.conf.eth0.accept_redirects=0']);
    await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns, 'route', 'add', '198.19.250.0/24', 'via', node.address]);
    // Its IPv6 twin on the v6 underlay: every node's address6 is on-link from here.
    const addr6 = `2001:db8:19:200::${host}`;
    await ip(['-n', ns, 'addr', 'add', `${addr6}/64`, 'dev', 'eth0', 'nodad']);
    const host_: PodHost = { name, ns, node, ip: addr, ip6: addr6, hostIf: port };
    this.pods.set(name, host_);
    return host_;
  }

  pod(name: string): PodHost {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  node(name: string): NodeHost {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Deletes every namespace (pods first, then nodes), killing what runs inside. */
  async destroy(): Promise<void> {
    for (const pod of this.pods.values()) pod.server?.kill('SIGKILL');
    for (const ns of [...this.namespaces].reverse()) await deleteNetns(ns);
    this.namespaces.length = 0;
  }
}
