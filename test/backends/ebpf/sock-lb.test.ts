// The socket LB in a node netns, end to end: getpeername() reports the Service, the host
// netns limit (--socket-lb-host-netns-only), and sockets closed when their backend goes —
// with the method this kernel has (bpf_sock_destroy from socket iterators on 6.5+, netlink
// SOCK_DESTROY before), and with netlink forced where it exists, so both paths run here.
// Clients are processes in the node netns (or a pod netns) inside a cgroup this test made:
// the socket LB never attaches to this machine's own cgroup root.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { EbpfBackend, type EbpfBackendOptions } from '../../../src/backends/ebpf/index.js';
import { BpfMap, addonAvailable, libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { ServiceTable } from '../../../src/model/types.js';
import { cgroupV2Root, createCgroup, removeCgroup } from '../../harness/cgroup.js';
import { describeKernel, kernelUnavailableReason } from '../../kernel-required.js';
import { ConnClient } from './conn-client.js';
import { OBJECT_DIR, buildMissingReason } from './fixtures.js';
import { ep, svc, table } from './table.js';
import { MiniTopology, sh } from './topology.js';

const VIP = '198.19.1.175';
/** A Service of its own for the namespace-scope checks (sock_rev entries are told apart by VIP). */
const SCOPE_VIP = '198.19.1.176';
const NODE_IP = '198.19.200.1';
const PODS = { p1: '198.18.1.11', p2: '198.18.1.12', p3: '198.18.1.13' } as const;
type Pod = keyof typeof PODS;

/** What this kernel offers for closing sockets, found before the tests are defined (skips say why). */
async function kernelSupport(): Promise<{ kfunc: boolean; netlink?: string }> {
  if (kernelUnavailableReason({ btf: true }) || !addonAvailable()) return { kfunc: false, netlink: 'no kernel access' };
  // The kfunc is a BTF function name of vmlinux (Linux 6.5+).
  const kfunc = readFileSync('/sys/kernel/btf/vmlinux').includes('\0bpf_sock_destroy\0');
  const zero = { src: '0.0.0.0', sport: 0, dst: '0.0.0.0', dport: 0, ifindex: 0, cookie: 0n, state: 0 };
  const missing: string[] = [];
  for (const proto of [abi.PROTO_TCP, abi.PROTO_UDP]) {
    try {
      const [err] = await libbpf.sockDestroy(proto, [zero]);
      if (err === 95) missing.push(`${abi.protoName(proto)}: no CONFIG_INET_DIAG_DESTROY`);
    } catch (e) {
      missing.push(`${abi.protoName(proto)}: ${(e as Error).message}`);
    }
  }
  return { kfunc, ...(missing.length ? { netlink: `netlink SOCK_DESTROY unavailable (${missing.join('; ')})` } : {}) };
}
const support = await kernelSupport();
const noCgroup2 = cgroupV2Root() ? undefined : 'no cgroup v2 mount (the socket LB attaches to a cgroup)';
/** The method the backend must pick on its own here. */
const expected = support.kfunc ? 'kfunc' : support.netlink ? 'none' : 'netlink';

function withNode(t: ServiceTable): ServiceTable {
  return { ...t, nodes: new Map([['node-a', { name: 'node-a', addresses: [NODE_IP], podCIDRs: ['198.18.1.0/24'] }]]) };
}

/** hostnames over TCP and UDP on VIP:80, and the scope Service on SCOPE_VIP:80, with these pods. */
function hostnames(pods: Pod[]): ServiceTable {
  const eps = () => pods.map((p) => ep(PODS[p]));
  return withNode(table(
    svc('hostnames', { endpoints: eps() }),
    svc('hostnames-udp', { protocol: 'UDP', endpoints: eps() }),
    svc('scope', { clusterIPs: [SCOPE_VIP], endpoints: eps() }),
  ));
}
const ALL: Pod[] = ['p1', 'p2', 'p3'];
const podOf = (answer: string): Pod => answer.replace(/^ANSWER /, '') as Pod;

/** Printed at the end: how long after a sync began each client saw its socket closed. */
const timings: string[] = [];

describeKernel('socket LB (node netns, a cgroup of our own)', () => {
  const topo = new MiniTopology();
  let cgroup = '';

  beforeAll(async () => {
    const missing = buildMissingReason() ?? noCgroup2;
    if (missing) throw new Error(missing);
    cgroup = createCgroup(topo.prefix);
    await topo.createNode();
    await sh('ip', ['-n', topo.nodeNs, 'addr', 'add', `${NODE_IP}/32`, 'dev', 'lo']);
    for (const [name, ip] of Object.entries(PODS)) await topo.addHost(name, ip, true);
    await topo.addHost('client', '198.18.1.100', false);
  });

  afterAll(async () => {
    try {
      await topo.destroy();
    } finally {
      if (cgroup) await removeCgroup(cgroup);
      if (timings.length) console.log(`socket destroy, from the start of the sync that removed the backend to the client's error:\n  ${timings.join('\n  ')}`);
    }
  });

  /** A backend of its own (pin root) on the node netns, socket LB on our cgroup, all pods in. */
  function useBackend(extra: Partial<EbpfBackendOptions>): () => EbpfBackend {
    let backend: EbpfBackend | undefined;
    beforeAll(async () => {
      backend = new EbpfBackend({
        pinRoot: `/sys/fs/bpf/${topo.prefix}-${Object.keys(extra).join('-') || 'default'}`, bpfObjectDir: OBJECT_DIR, netns: topo.nodeNsPath, cgroupPath: cgroup,
        interfacePollMs: 0, watchLinks: false, ...extra,
      });
      await backend.sync({ table: hostnames(ALL) }, { full: true });
    });
    afterAll(async () => {
      await backend?.cleanup();
    });
    return () => backend!;
  }

  const inNode = () => ({ netns: topo.nodeNsPath, cgroup });
  const inPod = () => ({ netns: `/run/netns/${topo.prefix}-client`, cgroup });

  /** The frontends the socket LB recorded (sock_rev values) for `vip`, read from the pinned map. */
  async function translatedTo(b: EbpfBackend, vip: string): Promise<number> {
    const fd = libbpf.getPinned(`${b.pinRoot}/sock_rev`);
    try {
      const m = new BpfMap('sock_rev', fd, abi.sockRevKey, abi.sockRevValue, libbpf.mapInfo(fd).maxEntries);
      return (await m.dump()).filter(([, v]) => v.vip === vip).length;
    } finally {
      libbpf.closeFd(fd);
    }
  }

  /**
   * A socket connected through the Service to one pod; that pod's endpoint removed by one
   * sync; the socket must be closed by that sync (an error right away, without sending),
   * and a new socket reaches another pod.
   */
  async function closedWhenBackendGoes(get: () => EbpfBackend, proto: 'tcp' | 'udp', label: string): Promise<void> {
    const b = get();
    const c = new ConnClient(proto, VIP, 80, inNode());
    try {
      expect(await c.line()).toBe(`CONNECTED ${VIP}:80`);
      const first = await c.send();
      expect(first).toMatch(/^ANSWER p[123]$/);
      // One socket, one backend: it stays there while nothing changes.
      for (let i = 0; i < 3; i++) expect(await c.send()).toBe(first);
      const pod = podOf(first);
      const t0 = performance.timeOrigin + performance.now();
      await b.sync({ table: hostnames(ALL.filter((p) => p !== pod)) }, { full: false });
      const synced = performance.timeOrigin + performance.now();
      expect(b.lastDestroy).toMatchObject({ destroyed: { [proto]: 1 }, failed: [] });
      // The error comes unasked: the application learns at once, not at its next send.
      const err = await c.line();
      expect(err).toMatch(/^ERROR ECONNABORTED \d/);
      const at = Number(err.split(' ')[2]);
      timings.push(`${label} ${proto}: error ${(at - t0).toFixed(1)} ms after the sync began (the sync took ${(synced - t0).toFixed(1)} ms; ${b.lastDestroy!.ms} ms of it closing sockets)`);
      if (proto === 'tcp') expect(await c.line()).toBe('CLOSED');
      expect(await c.reconnect()).toBe(`CONNECTED ${VIP}:80`);
      const next = await c.send();
      expect(next).toMatch(/^ANSWER p[123]$/);
      expect(next).not.toBe(first);
    } finally {
      c.close();
      await get().sync({ table: hostnames(ALL) }, { full: false });
    }
  }

  describe(`socket destroy as detected (expected here: ${expected})`, () => {
    const backend = useBackend({});

    it(`picks ${expected}${support.netlink && !support.kfunc ? ` (${support.netlink})` : ''}`, () => {
      expect(backend().socketDestroy?.method).toBe(expected);
    });

    it('getpeername(): a TCP and a UDP socket the socket LB connected report the Service VIP:port, not the pod', async () => {
      for (const proto of ['tcp', 'udp'] as const) {
        const c = new ConnClient(proto, VIP, 80, inNode());
        try {
          expect(await c.line()).toBe(`CONNECTED ${VIP}:80`);
          expect(await c.send()).toMatch(/^ANSWER p[123]$/);
        } finally {
          c.close();
        }
      }
      // Connected to a pod directly, the socket reports the pod (nothing to translate back).
      const d = new ConnClient('udp', PODS.p2, 9376, inNode());
      try {
        expect(await d.line()).toBe(`CONNECTED ${PODS.p2}:9376`);
      } finally {
        d.close();
      }
    });

    it('without the host-netns limit, a process of the cgroup in a pod netns is translated at connect() too', async () => {
      const c = new ConnClient('tcp', SCOPE_VIP, 80, inPod());
      try {
        expect(await c.line()).toBe(`CONNECTED ${SCOPE_VIP}:80`);
        expect(await c.send()).toMatch(/^ANSWER p[123]$/);
        expect(await translatedTo(backend(), SCOPE_VIP)).toBeGreaterThan(0);
      } finally {
        c.close();
      }
    });

    const destroys = expected === 'none' ? it.skip : it;
    const why = expected === 'none' ? ` (skipped: ${support.netlink}, and no bpf_sock_destroy kfunc)` : '';
    destroys(`UDP: a connected client (connect() once, then send()) gets ECONNABORTED from the sync that removes its backend; a new socket reaches another pod${why}`, () =>
      closedWhenBackendGoes(backend, 'udp', expected));
    destroys(`TCP: a keep-alive connection is aborted by the sync that removes its backend; a new one reaches another pod${why}`, () => closedWhenBackendGoes(backend, 'tcp', expected));

    destroys(`a socket connected to the pod directly (not through the Service) is left alone${why}`, async () => {
      const c = new ConnClient('udp', PODS.p1, 9376, inNode());
      try {
        expect(await c.line()).toBe(`CONNECTED ${PODS.p1}:9376`);
        expect(await c.send()).toBe('ANSWER p1');
        await backend().sync({ table: hostnames(['p2', 'p3']) }, { full: false });
        expect(backend().lastDestroy?.destroyed).toEqual({ tcp: 0, udp: 0 });
        expect(await c.send()).toBe('ANSWER p1');
        expect(c.pending()).toEqual([]);
      } finally {
        c.close();
        await backend().sync({ table: hostnames(ALL) }, { full: false });
      }
    });
  });

  describe('socket destroy through netlink SOCK_DESTROY (forced: the path of kernels without the kfunc)', () => {
    const backend = useBackend({ socketDestroy: 'netlink' });
    const run = support.netlink ? it.skip : it;
    const why = support.netlink ? ` (skipped: ${support.netlink})` : '';

    run(`uses netlink${why}`, () => {
      expect(backend().socketDestroy?.method).toBe('netlink');
    });
    run(`UDP: a connected client gets ECONNABORTED from the sync that removes its backend${why}`, () => closedWhenBackendGoes(backend, 'udp', 'netlink'));
    run(`TCP: a keep-alive connection is aborted by the sync that removes its backend${why}`, () => closedWhenBackendGoes(backend, 'tcp', 'netlink'));
  });

  describe('--socket-lb-host-netns-only', () => {
    const backend = useBackend({ socketLbHostNetnsOnly: true });

    it("writes the node netns's cookie: only its sockets are translated; a pod-netns process of the same cgroup reaches the Service through tc_lb", async () => {
      const fd = libbpf.getPinned(`${backend().pinRoot}/sock_lb_cfg`);
      try {
        const cfg = new BpfMap('sock_lb_cfg', fd, abi.u32Key, abi.sockLbConfig, 1).lookup({ id: 0 });
        expect(cfg?.netnsCookie).toBe(await libbpf.netnsCookie(topo.nodeNsPath));
        expect(cfg?.netnsCookie).not.toBe(0n);
      } finally {
        libbpf.closeFd(fd);
      }
      const pod = new ConnClient('tcp', SCOPE_VIP, 80, inPod());
      try {
        expect(await pod.line()).toBe(`CONNECTED ${SCOPE_VIP}:80`);
        expect(await pod.send()).toMatch(/^ANSWER p[123]$/);
        expect(await translatedTo(backend(), SCOPE_VIP)).toBe(0);
      } finally {
        pod.close();
      }
      const node = new ConnClient('tcp', SCOPE_VIP, 80, inNode());
      try {
        expect(await node.line()).toBe(`CONNECTED ${SCOPE_VIP}:80`);
        expect(await node.send()).toMatch(/^ANSWER p[123]$/);
        expect(await translatedTo(backend(), SCOPE_VIP)).toBe(1);
      } finally {
        node.close();
      }
    });
  });
}, { btf: true });
