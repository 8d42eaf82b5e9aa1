// EbpfBackend end to end in network namespaces: node netns + 3 hostname pods + a client.
// The backend runs in this (root netns) process; its tc attach calls enter the node netns
// through the addon's setns-on-a-throwaway-thread (option `netns`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { EbpfBackend } from '../../../src/backends/ebpf/index.js';
import { libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { ServiceTable } from '../../../src/model/types.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { createCgroup, cgroupV2Root, removeCgroup } from '../../harness/cgroup.js';
import { describeKernel, itNeeds } from '../../kernel-required.js';
import { buildMissingReason, OBJECT_DIR } from './fixtures.js';
import { ep, svc, table } from './table.js';
import { KeepAlive, MiniTopology, TCP_CLIENT, UDP_CLIENT, sh } from './topology.js';

const VIP = '198.19.1.175';
const URL_ = `http://${VIP}:80/`;
const NODE_IP = '198.19.200.1';
const PODS = { p1: '198.18.1.11', p2: '198.18.1.12', p3: '198.18.1.13' } as const;
/** The socket-LB tests need a cgroup v2 mount (wherever it is: /sys/fs/cgroup, or …/unified on hybrid hosts). */
const noCgroup2 = cgroupV2Root() ? undefined : 'no cgroup v2 mount in /proc/self/mounts (the socket LB attaches to a cgroup)';
const missing = buildMissingReason();
const BIN = fileURLToPath(new URL('../../../bin/bpfproxy.js', import.meta.url));

/** The value of one labelled sample in Prometheus text, e.g. ('packets', 'path', 'new'). */
function sample(text: string, metric: string, label: string, value: string): number {
  const m = new RegExp(`^${metric}\\{${label}="${value}"\\} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no sample ${metric}{${label}="${value}"} in:\n${text}`);
  return Number(m[1]);
}

/** The node knows its address: the default SNAT/hairpin source. */
function withNode(t: ServiceTable): ServiceTable {
  return { ...t, nodes: new Map([['node-a', { name: 'node-a', addresses: [NODE_IP], podCIDRs: ['198.18.1.0/24'] }]]) };
}

function hostnames(ips: string[], extra: Parameters<typeof svc>[1] = {}): ServiceTable {
  return withNode(table(
    svc('hostnames', { endpoints: ips.map((ip) => ep(ip)), ...extra }),
    svc('hostnames-udp', { protocol: 'UDP', endpoints: ips.map((ip) => ep(ip)) }),
  ));
}

describeKernel('EbpfBackend in a netns topology', () => {
  const topo = new MiniTopology();
  const pinRoot = `/sys/fs/bpf/${topo.prefix}`;
  let cgroup: string | undefined;
  let backend: EbpfBackend;
  const metrics = createMetrics();
  // No interface poll: new interfaces get tc_lb from link events or at a sync, nothing else.
  const make = () => new EbpfBackend({ pinRoot, bpfObjectDir: OBJECT_DIR, netns: topo.nodeNsPath, cgroupPath: cgroup, metrics, interfacePollMs: 0 });

  beforeAll(async () => {
    if (missing) throw new Error(missing);
    if (!noCgroup2) cgroup = createCgroup(topo.prefix);
    await topo.createNode();
    await sh('ip', ['-n', topo.nodeNs, 'addr', 'add', `${NODE_IP}/32`, 'dev', 'lo']);
    for (const [name, ip] of Object.entries(PODS)) await topo.addHost(name, ip, true);
    await topo.addHost('client', '198.18.1.100', false);
    backend = make();
    await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: true });
  });

  afterAll(async () => {
    try {
      await backend?.cleanup();
    } finally {
      await topo.destroy();
      if (cgroup) await removeCgroup(cgroup);
    }
  });

  async function curlMany(from: string, n: number): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await topo.curl(from, URL_);
      const key = r.code === 0 ? r.out : `curl:${r.code}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    return seen;
  }

  /** Runs curl from a process in the node netns that sits in our cgroup (socket LB). */
  async function curlFromNode(url: string) {
    const r = await sh('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec nsenter --net=${topo.nodeNsPath} curl -sS --max-time 3 ${url}`]);
    return { out: r.stdout.trim(), err: r.stderr.trim(), code: r.code };
  }

  const tcProgId = (ifname: string) =>
    libbpf.tcQuery({ netns: topo.nodeNsPath, ifname, direction: 'ingress', handle: abi.TC_HANDLE, priority: abi.TC_PRIORITY });
  const tcProgIds = async () => Promise.all([...topo.hosts.values()].map((h) => tcProgId(h.hostIf)));

  it('attaches tc_lb on every non-loopback interface of the node netns', async () => {
    const ids = await tcProgIds();
    expect(ids.every((id) => id !== null && id > 0)).toBe(true);
  });

  it('30 requests to the VIP from the client reach all three pods', async () => {
    const seen = await curlMany('client', 30);
    expect([...seen.keys()].sort()).toEqual(['p1', 'p2', 'p3']);
  });

  it('UDP to the VIP is answered by a pod, with the VIP as source (connected socket accepts it)', async () => {
    const r = await sh('ip', ['netns', 'exec', `${topo.prefix}-client`, process.execPath, UDP_CLIENT, VIP, '80']);
    expect(r.stdout.trim()).toMatch(/^ANSWER p[123]$/);
  });

  it('inspect() reads the kernel maps back, also from a fresh instance that loads nothing', async () => {
    const want = { service: 'default/hostnames', protocol: 'TCP', frontend: `${VIP}:80`, kind: 'ClusterIP', backends: Object.values(PODS).map((ip) => `${ip}:9376`) };
    expect(await backend.inspect()).toContainEqual(want);
    const viewer = new EbpfBackend({ pinRoot, interfacePollMs: 0 });
    expect(await viewer.inspect()).toContainEqual(want);
    await viewer.close();
    expect(await new EbpfBackend({ pinRoot: `${pinRoot}-none` }).inspect()).toEqual([]);
  });

  it('hairpin: a pod reaching its own Service lands on itself (SNAT to the node address by default)', async () => {
    await backend.sync({ table: hostnames([PODS.p1]) }, { full: false });
    const r = await topo.curl('p1', URL_);
    expect(r).toMatchObject({ out: 'p1', code: 0 });
    await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: false });
  });

  itNeeds(noCgroup2, 'socket LB: a client in the node netns (in the cgroup) reaches the pods through the VIP', async () => {
    const r = await curlFromNode(URL_);
    expect(r.code).toBe(0);
    expect(['p1', 'p2', 'p3']).toContain(r.out);
  });

  itNeeds(noCgroup2, 'socket LB for UDP: sendto() the VIP reaches a pod, recvfrom() reports the VIP as the source', async () => {
    const r = await sh('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec nsenter --net=${topo.nodeNsPath} ${process.execPath} ${UDP_CLIENT} --unconnected ${VIP} 80`]);
    expect(r.stdout.trim()).toMatch(new RegExp(`^ANSWER p[123] FROM ${VIP.replace(/\./g, '\\.')}:80$`));
  });

  it('a restarted controller adopts the pinned maps: nothing to rewrite, no traffic gap', async () => {
    const conn = new KeepAlive(`${topo.prefix}-client`, VIP, 80);
    try {
      const first = await conn.line();
      expect(first).toMatch(/^BODY p[123]$/);
      // New connections keep flowing while the controller goes away and comes back.
      const progIdsBefore = await tcProgIds();
      const during = curlMany('client', 20);
      await backend.close();
      backend = make();
      await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: true });
      expect(backend.lastSync).toMatchObject({ ops: 0, failed: 0 });
      // The new program replaced the old one in place on every interface.
      const after = await tcProgIds();
      expect(new Set(after).size).toBe(1);
      expect(after[0]).not.toBe(progIdsBefore[0]);
      const seen = await during;
      expect([...seen.keys()].every((k) => /^p[123]$/.test(k)), JSON.stringify([...seen])).toBe(true);
      expect(await conn.next()).toBe(first);
    } finally {
      conn.close();
    }
    expect((await backend.inspect()).find((r) => r.protocol === 'TCP')!.backends).toHaveLength(3);
  });

  it('ClientIP affinity: every connection of the client goes to one pod', async () => {
    await backend.sync({ table: hostnames(Object.values(PODS), { sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 } }) }, { full: false });
    const seen = await curlMany('client', 10);
    expect(seen.size).toBe(1);
    await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: false });
  });

  it('an established connection stays on its pod while that pod terminates, and is reset once the pod is gone', async () => {
    const conn = new KeepAlive(`${topo.prefix}-client`, VIP, 80);
    try {
      const first = await conn.line();
      expect(first).toMatch(/^BODY p[123]$/);
      const pod = first.slice(5) as keyof typeof PODS;
      const others = Object.entries(PODS).filter(([n]) => n !== pod).map(([, ip]) => ip);
      // The pod is terminating: no new flows, but this connection keeps going to it.
      const terminating = ep(PODS[pod], { ready: false, serving: true, terminating: true });
      await backend.sync({ table: withNode(table(svc('hostnames', { endpoints: [...others.map((ip) => ep(ip)), terminating] }))) }, { full: false });
      expect(await conn.next()).toBe(`BODY ${pod}`);
      for (let i = 0; i < 5; i++) expect((await topo.curl('client', URL_)).out).not.toBe(pod);
      // The endpoint is deleted: the next segment of the flow is answered with a RST at once.
      await backend.sync({ table: withNode(table(svc('hostnames', { endpoints: others.map((ip) => ep(ip)) }))) }, { full: false });
      expect(await conn.next()).toBe('ERROR ECONNRESET');
    } finally {
      conn.close();
      await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: false });
    }
  });

  it('a new veth gets tc_lb from its link event (no poll, no sync): the first datagram of the new host is translated', async () => {
    const h = await topo.addHost('c2', '198.18.1.101', false);
    // One datagram, no retry: had it left untranslated, nothing would answer it.
    const r = await sh('ip', ['netns', 'exec', h.ns, process.execPath, UDP_CLIENT, VIP, '80']);
    expect(r.stdout.trim()).toMatch(/^ANSWER p[123]$/);
    expect(await tcProgId(h.hostIf)).toBeGreaterThan(0);
  });

  it('a tc_lb filter deleted behind our back is restored by the next verifying sync', async () => {
    const hostIf = topo.hosts.get('client')!.hostIf;
    await sh('ip', ['netns', 'exec', topo.nodeNs, 'tc', 'filter', 'del', 'dev', hostIf, 'ingress']);
    expect(await tcProgId(hostIf)).toBeNull();
    await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: false, verify: true });
    expect(await tcProgId(hostIf)).toBeGreaterThan(0);
    expect((await topo.curl('client', URL_)).out).toMatch(/^p[123]$/);
  });

  it('a verify sync repairs entries deleted behind our back; an entry edited in place waits for the full sync', async () => {
    const t = hostnames(Object.values(PODS));
    await backend.sync({ table: t }, { full: false });
    const hex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0'));
    const slot = (n: number) => hex(abi.svcKey.encode({ vip: VIP, port: 80, proto: abi.PROTO_TCP, slot: n }));
    const map = `${pinRoot}/services`;
    await sh('bpftool', ['map', 'delete', 'pinned', map, 'key', 'hex', ...slot(2)]);
    // changes: [] — what the proxier sends when nothing changed (a bare table means "compare all").
    await backend.sync({ table: t, changes: [] }, { full: false, verify: true });
    expect(backend.lastSync.ops).toBe(1); // counted, read back, the one slot rewritten
    const value = (await backend.kernelState())!.services.get(`${VIP}:80/TCP#2`)!.value;
    const edited = hex(abi.svcValue.encode({ ...value, backendId: 999_999 }));
    await sh('bpftool', ['map', 'update', 'pinned', map, 'key', 'hex', ...slot(2), 'value', 'hex', ...edited]);
    await backend.sync({ table: t, changes: [] }, { full: false, verify: true });
    expect(backend.lastSync.ops).toBe(0); // same counts: not looked at
    await backend.sync({ table: t }, { full: true });
    expect(backend.lastSync.ops).toBe(1);
    expect((await backend.kernelState())!.services.get(`${VIP}:80/TCP#2`)!.value).toEqual(value);
  });

  it('a pod added later is served through the VIP after the next sync', async () => {
    await topo.addHost('p4', '198.18.1.14', true);
    await backend.sync({ table: hostnames(['198.18.1.14']) }, { full: false });
    expect(await topo.curl('client', URL_)).toMatchObject({ out: 'p4', code: 0 });
    await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: false });
  });

  it('NodePort: the node address + node port reaches the pods', async () => {
    const t = table(svc('hostnames', { nodePort: 30080, endpoints: Object.values(PODS).map((ip) => ep(ip)) }));
    await backend.sync({ table: withNode(t) }, { full: false });
    const seen = new Set<string>();
    // Random choice: requests until all three answered, at most 60 (one pod is then missed by
    // chance with p ≈ 3·(2/3)^60; with 15 fixed requests it was ~1 in 150, seen once in CI).
    for (let i = 0; i < 60 && seen.size < 3; i++) seen.add((await topo.curl('client', `http://${NODE_IP}:30080/`)).out);
    expect([...seen].sort()).toEqual(['p1', 'p2', 'p3']);
    expect(await backend.inspect()).toContainEqual(expect.objectContaining({ frontend: `${NODE_IP}:30080`, kind: 'NodePort', service: 'default/hostnames' }));
    await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: false });
  });

  itNeeds(noCgroup2, 'socket LB: 127.0.0.1:nodePort (localhost NodePorts) reaches the pods from the node', async () => {
    const t = table(svc('hostnames', { nodePort: 30080, endpoints: Object.values(PODS).map((ip) => ep(ip)) }));
    try {
      await backend.sync({ table: withNode(t) }, { full: false });
      const r = await curlFromNode('http://127.0.0.1:30080/');
      expect(r.code).toBe(0);
      expect(['p1', 'p2', 'p3']).toContain(r.out);
    } finally {
      await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: false });
    }
  });

  itNeeds(noCgroup2, "socket LB: an LB IP with loadBalancerSourceRanges takes the node's connections when the node's address is in them, else connect() fails with EPERM", async () => {
    const LB_IP = '198.19.250.24';
    const lb = (ranges: string[]) =>
      withNode(table(svc('hostnames', { loadBalancerIPs: [LB_IP], loadBalancerSourceRanges: ranges, endpoints: Object.values(PODS).map((ip) => ep(ip)) })));
    const connect = async () => (await sh('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec nsenter --net=${topo.nodeNsPath} ${process.execPath} ${TCP_CLIENT} ${LB_IP} 80`])).stdout.trim();
    try {
      await backend.sync({ table: lb([`${NODE_IP}/32`]) }, { full: false });
      expect(await connect()).toBe('CONNECTED');
      // The node's IP is in a range: its LB IP is let in too (kube-proxy's rule).
      expect(await backend.inspect()).toContainEqual(expect.objectContaining({ frontend: `${LB_IP}:80`, kind: 'LoadBalancer', sourceRanges: [`${NODE_IP}/32`, `${LB_IP}/32`] }));
      await backend.sync({ table: lb(['198.19.99.0/24']) }, { full: false });
      expect(await connect()).toBe('EPERM');
    } finally {
      await backend.sync({ table: hostnames(Object.values(PODS)) }, { full: false });
    }
  });

  it('scaled to 0: TCP is refused at once (a RST), UDP gets port unreachable; both counted as rejected', async () => {
    await backend.sync({ table: hostnames([]) }, { full: false });
    const rejected = async () => sample(await metrics.registry.metrics(), 'bpfproxy_datapath_packets_total', 'path', 'rejected');
    const before = await rejected();
    const r = await sh('ip', ['netns', 'exec', `${topo.prefix}-client`, process.execPath, TCP_CLIENT, VIP, '80']);
    expect(r.stdout.trim()).toBe('ECONNREFUSED'); // a RST: not "no route", and not a timeout
    const u = await sh('ip', ['netns', 'exec', `${topo.prefix}-client`, process.execPath, UDP_CLIENT, VIP, '80']);
    expect(u.stdout.trim()).toBe('ECONNREFUSED');
    const after = await rejected();
    expect(after - before).toBeGreaterThanOrEqual(2); // one SYN, one or more datagrams
    // `inspect --stats` in another process reads the same pinned counters.
    const cli = await sh(process.execPath, [BIN, 'inspect', '--backend=ebpf', '--bpf-pin-root', pinRoot, '--stats']);
    expect(cli.stdout).toMatch(new RegExp(`^  rejected +${after}$`, 'm'));
    expect(cli.stdout).toMatch(/^Drops by reason$/m);
  });

  itNeeds(noCgroup2, 'scaled to 0: a client in the node netns (socket LB) gets ECONNREFUSED from connect()', async () => {
    const n = await sh('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec nsenter --net=${topo.nodeNsPath} ${process.execPath} ${TCP_CLIENT} ${VIP} 80`]);
    expect(n.stdout.trim()).toBe('ECONNREFUSED'); // connect() failed by sock_connect4
  });

  it('scaled back up: served again', async () => {
    await backend.sync({ table: hostnames([PODS.p2]) }, { full: false });
    expect(await topo.curl('client', URL_)).toMatchObject({ out: 'p2', code: 0 });
  });

  it('cleanup() detaches everything and removes the pin dir', async () => {
    await backend.cleanup();
    expect((await tcProgIds()).every((id) => id === null)).toBe(true);
    const qdiscs = await sh('ip', ['netns', 'exec', topo.nodeNs, 'tc', 'qdisc', 'show']);
    expect(qdiscs.stdout).not.toMatch(/clsact/);
    expect(existsSync(pinRoot)).toBe(false);
    if (cgroup) for (const t of [10, 14, 19, 29]) expect(libbpf.cgroupQuery(cgroup, t)).toEqual([]);
    const r = await topo.curl('client', URL_, 1);
    expect(r.code).not.toBe(0);
  });

  it('a full map fails only the service port that does not fit: named with the map, not half-written; the others are served', async () => {
    // services holds 6 entries here: a-fits needs 3 (slot 0 + 2), z-big 7 (slot 0 + 6): it can never fit.
    const mapMetrics = createMetrics();
    const small = new EbpfBackend({ pinRoot: `${pinRoot}-small`, bpfObjectDir: OBJECT_DIR, netns: topo.nodeNsPath, mapSizes: { services: 6 }, interfacePollMs: 0, watchLinks: false, metrics: mapMetrics });
    try {
      const fits = svc('a-fits', { clusterIPs: ['198.19.1.180'], endpoints: [ep(PODS.p1), ep(PODS.p2)] });
      const big = svc('z-big', { clusterIPs: ['198.19.1.181'], endpoints: ['198.18.1.11', '198.18.1.12', '198.18.1.13', '198.18.1.14', '198.18.1.15', '198.18.1.16'].map((ip) => ep(ip)) });
      const r = await small.sync({ table: withNode(table(fits, big)) }, { full: true });
      expect(r.failed).toEqual([['default/z-big/tcp', expect.stringMatching(/^map services is full \(6 entries\)/)]]);
      expect((await small.inspect()).map((row) => `${row.service} ${row.frontend} ${row.backends.length}`)).toEqual(['default/a-fits 198.19.1.180:80 2']);
      expect(await topo.curl('client', 'http://198.19.1.180:80/')).toMatchObject({ code: 0 });
      // What /metrics shows an operator: the full map, its use and its capacity.
      const text = await mapMetrics.registry.metrics();
      expect(text).toContain('bpfproxy_bpf_map_full_errors_total{map="services"} 1');
      expect(text).toContain('bpfproxy_bpf_map_entries{map="services"} 3');
      expect(text).toContain('bpfproxy_bpf_map_capacity{map="services"} 6');
      expect(text).toContain('bpfproxy_bpf_map_entries{map="backends"} 2');
      // Deleting it (a partial sync) has nothing to undo: it never wrote anything.
      const again = await small.sync({ table: withNode(table(fits)), changes: [{ key: big.key, previous: big }] }, { full: false });
      expect(again.failed).toEqual([]);
      expect(small.lastSync.ops).toBe(0);

      // A restart without the flag adopts the pinned size; asking for another size is a clear error.
      await small.close();
      const adopt = new EbpfBackend({ pinRoot: `${pinRoot}-small`, bpfObjectDir: OBJECT_DIR, netns: topo.nodeNsPath, interfacePollMs: 0, watchLinks: false });
      expect((await adopt.sync({ table: withNode(table(fits)) }, { full: true })).failed).toEqual([]);
      expect(adopt.lastSync.ops).toBe(0);
      await adopt.close();
      const resized = new EbpfBackend({ pinRoot: `${pinRoot}-small`, bpfObjectDir: OBJECT_DIR, netns: topo.nodeNsPath, mapSizes: { services: 8 }, interfacePollMs: 0, watchLinks: false });
      await expect(resized.sync({ table: withNode(table(fits)) }, { full: true })).rejects.toThrow(/map services is pinned with 6 entries but 8 were asked for: run `bpfproxy run --cleanup` first/);
    } finally {
      await small.cleanup();
    }
  });

  it('ids are never reused, also across a restart: a service port added after one was deleted gets new ones', async () => {
    const root = `${pinRoot}-ids`;
    const make2 = () => new EbpfBackend({ pinRoot: root, bpfObjectDir: OBJECT_DIR, netns: topo.nodeNsPath, interfacePollMs: 0, watchLinks: false });
    const keep = svc('keep', { clusterIPs: ['198.19.1.190'], endpoints: [ep(PODS.p1)] });
    const gone = svc('gone', { clusterIPs: ['198.19.1.191'], endpoints: [ep(PODS.p2), ep(PODS.p3)] });
    const fresh = svc('fresh', { clusterIPs: ['198.19.1.192'], endpoints: [ep(PODS.p3)] });
    let first: EbpfBackend | undefined = make2();
    let second: EbpfBackend | undefined;
    try {
      await first.sync({ table: withNode(table(keep, gone)) }, { full: true });
      const before = (await first.kernelState())!;
      const maxSvc = Math.max(...before.revNat.keys());
      const maxBackend = Math.max(...before.backends.keys());
      // The highest ids go with `gone`; the tables alone would hand them out again (max + 1).
      await first.sync({ table: withNode(table(keep)), changes: [{ key: gone.key, previous: gone }] }, { full: false });
      await first.close();
      first = undefined;
      second = make2();
      await second.sync({ table: withNode(table(keep, fresh)) }, { full: true });
      const after = (await second.kernelState())!;
      const slot0 = after.services.get('198.19.1.192:80/TCP#0')!.value;
      expect(slot0.svcId).toBeGreaterThan(maxSvc);
      expect(after.services.get('198.19.1.192:80/TCP#1')!.value.backendId).toBeGreaterThan(maxBackend);
      expect(after.services.get('198.19.1.190:80/TCP#0')).toEqual(before.services.get('198.19.1.190:80/TCP#0')); // adopted as it was
    } finally {
      await first?.cleanup();
      await second?.cleanup();
    }
  });
}, { btf: true });
