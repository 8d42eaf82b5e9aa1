// The socket LB over IPv6, end to end in a node netns: connect6/sendmsg6/recvmsg6/getpeername6
// translate an IPv6 Service to a pod and back, an IPv4-mapped address on a dual-stack socket
// goes through the IPv4 tables, no endpoints refuses at connect(), and
// --socket-lb-host-netns-only holds for IPv6 sockets too. Clients run in a cgroup this test made.
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
import { MiniTopology, UDP_CLIENT, sh } from './topology.js';

const VIP4 = '198.19.1.175';
const VIP6 = '2001:db8:19::b';
const EMPTY6 = '2001:db8:19::e';
const PODS = { p1: ['198.18.1.11', '2001:db8:18:1::b'], p2: ['198.18.1.12', '2001:db8:18:1::c'] } as const;
const CLIENT = ['198.18.1.100', '2001:db8:18:1::64'] as const;

type Pod = keyof typeof PODS;
const ALL: Pod[] = ['p1', 'p2'];

/** The Services with these pods as endpoints (both families). */
function services(pods: Pod[] = ALL): ServiceTable {
  const eps = () => pods.flatMap((p) => [ep(PODS[p][0]), ep(PODS[p][1])]);
  const t = table(
    svc('six', { clusterIPs: [VIP4, VIP6], endpoints: eps() }),
    svc('six-udp', { protocol: 'UDP', clusterIPs: [VIP4, VIP6], endpoints: eps() }),
    svc('empty', { clusterIPs: [EMPTY6] }),
  );
  return { ...t, nodes: new Map([['node-a', { name: 'node-a', addresses: ['198.19.200.1', '2001:db8:19:200::1'], podCIDRs: [] }]]) };
}

/** How this kernel can close sockets (as sock-lb.test.ts finds it): the kfunc (6.5+), netlink SOCK_DESTROY. */
async function destroyMethods(): Promise<Array<'kfunc' | 'netlink'>> {
  if (kernelUnavailableReason({ btf: true }) || !addonAvailable()) return [];
  const out: Array<'kfunc' | 'netlink'> = [];
  if (readFileSync('/sys/kernel/btf/vmlinux').includes('\0bpf_sock_destroy\0')) out.push('kfunc');
  const zero = { src: '::', sport: 0, dst: '::', dport: 0, ifindex: 0, cookie: 0n, state: 0 };
  const errs = await Promise.all([abi.PROTO_TCP, abi.PROTO_UDP].map((p) => libbpf.sockDestroy(p, [zero]).then(([e]) => e, () => -1)));
  if (errs.every((e) => e !== 95 && e !== -1)) out.push('netlink');
  return out;
}
const methods = await destroyMethods();

describeKernel('socket LB over IPv6 (node netns, a cgroup of our own)', () => {
  const topo = new MiniTopology();
  let cgroup = '';

  beforeAll(async () => {
    const missing = buildMissingReason() ?? (cgroupV2Root() ? undefined : 'no cgroup v2 mount');
    if (missing) throw new Error(missing);
    cgroup = createCgroup(topo.prefix);
    await topo.createNode();
    // tc_lb's FIB lookups for pod clients need IPv6 forwarding on (the kernel refuses them otherwise).
    await sh('ip', ['netns', 'exec', topo.nodeNs, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    for (const [name, [v4, v6]] of Object.entries(PODS)) await topo.addHost(name, v4, true, v6);
    await topo.addHost('client', CLIENT[0], false, CLIENT[1]);
  });

  afterAll(async () => {
    try {
      await topo.destroy();
    } finally {
      if (cgroup) await removeCgroup(cgroup);
    }
  });

  /** A backend of its own (pin root `name`) on the node netns, socket LB on our cgroup. */
  function useBackend(extra: Partial<EbpfBackendOptions>, name = Object.keys(extra).join('-') || 'default'): () => EbpfBackend {
    let backend: EbpfBackend | undefined;
    beforeAll(async () => {
      backend = new EbpfBackend({
        pinRoot: `/sys/fs/bpf/${topo.prefix}-${name}`, bpfObjectDir: OBJECT_DIR, netns: topo.nodeNsPath, cgroupPath: cgroup,
        interfacePollMs: 0, watchLinks: false, ...extra,
      });
      await backend.sync({ table: services() }, { full: true });
    });
    afterAll(async () => {
      await backend?.cleanup();
    });
    return () => backend!;
  }

  const inNode = () => ({ netns: topo.nodeNsPath, cgroup });
  const inPod = () => ({ netns: `/run/netns/${topo.prefix}-client`, cgroup });

  /** sock_rev6 entries naming `vip`, read from the pinned map. */
  async function translatedTo(b: EbpfBackend, vip: string): Promise<number> {
    const fd = libbpf.getPinned(`${b.pinRoot}/sock_rev6`);
    try {
      const m = new BpfMap('sock_rev6', fd, abi.sockRev6Key, abi.sockRev6Value, libbpf.mapInfo(fd).maxEntries);
      return (await m.dump()).filter(([, v]) => v.vip === vip).length;
    } finally {
      libbpf.closeFd(fd);
    }
  }

  describe('translation', () => {
    const backend = useBackend({});

    it('TCP and connected UDP to [VIP6]:80: getpeername() reports the Service, the answer comes from a pod, sock_rev6 records it', async () => {
      for (const proto of ['tcp', 'udp'] as const) {
        const c = new ConnClient(proto, VIP6, 80, inNode());
        try {
          expect(await c.line()).toBe(`CONNECTED ${VIP6}:80`);
          expect(await c.send()).toMatch(/^ANSWER p[12]$/);
        } finally {
          c.close();
        }
      }
      expect(await translatedTo(backend(), VIP6)).toBeGreaterThanOrEqual(2);
    });

    it('new connections are spread over both IPv6 endpoints', async () => {
      const c = new ConnClient('tcp', VIP6, 80, inNode());
      const seen = new Set<string>();
      try {
        expect(await c.line()).toBe(`CONNECTED ${VIP6}:80`);
        for (let i = 0; i < 20 && seen.size < 2; i++) {
          seen.add(await c.send());
          expect(await c.reconnect()).toBe(`CONNECTED ${VIP6}:80`);
        }
      } finally {
        c.close();
      }
      expect([...seen].sort()).toEqual(['ANSWER p1', 'ANSWER p2']);
    });

    it('unconnected UDP: sendmsg6 sends to a pod, recvmsg6 reports the answer as from the Service', async () => {
      const r = await sh('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec nsenter --net=${topo.nodeNsPath} ${process.execPath} ${UDP_CLIENT} --unconnected ${VIP6} 80`]);
      expect(r.stdout.trim()).toMatch(new RegExp(`^ANSWER p[12] FROM ${VIP6}:80$`));
    });

    it('a dual-stack socket to ::ffff:VIP4 goes through the IPv4 tables and reports ::ffff:VIP4', async () => {
      const c = new ConnClient('tcp', `::ffff:${VIP4}`, 80, inNode());
      try {
        expect(await c.line()).toBe(`CONNECTED ::ffff:${VIP4}:80`);
        expect(await c.send()).toMatch(/^ANSWER p[12]$/);
      } finally {
        c.close();
      }
    });

    it('an IPv6 Service without endpoints fails connect() with ECONNREFUSED at once', async () => {
      const c = new ConnClient('tcp', EMPTY6, 80, inNode());
      try {
        expect(await c.line()).toMatch(/^ERROR ECONNREFUSED /);
      } finally {
        c.close();
      }
    });
  });

  describe('restart', () => {
    const backend = useBackend({}, 'restart');

    it('a restarted controller adopts the IPv6 entries (nothing to rewrite), then removes an IPv6 backend from backends6', async () => {
      const again = new EbpfBackend({ pinRoot: backend().pinRoot, bpfObjectDir: OBJECT_DIR, netns: topo.nodeNsPath, interfacePollMs: 0, watchLinks: false });
      try {
        await again.sync({ table: services() }, { full: true });
        expect(again.lastSync.ops).toBe(0);
        const ips = async () => [...(await again.kernelState())!.backends.values()].map((b) => b.ip).filter((ip) => ip.includes(':')).sort();
        expect(await ips()).toEqual(['2001:db8:18:1::b', '2001:db8:18:1::b', '2001:db8:18:1::c', '2001:db8:18:1::c']); // TCP and UDP service ports
        await again.sync({ table: services(['p1']) }, { full: false });
        expect(await ips()).toEqual(['2001:db8:18:1::b', '2001:db8:18:1::b']);
        const fd = libbpf.getPinned(`${backend().pinRoot}/backends6`);
        try {
          const m = new BpfMap('backends6', fd, abi.u32Key, abi.backend6Value, libbpf.mapInfo(fd).maxEntries);
          expect((await m.dump()).map(([, v]) => v.ip)).toEqual(['2001:db8:18:1::b', '2001:db8:18:1::b']);
        } finally {
          libbpf.closeFd(fd);
        }
      } finally {
        await again.close();
      }
    });
  });

  /** A socket through [VIP6]:80 (or ::ffff:VIP4) to one pod; that pod removed by one sync; the
   * socket gets ECONNABORTED from that sync, and a new one reaches the other pod. */
  async function closedWhenBackendGoes(get: () => EbpfBackend, proto: 'tcp' | 'udp', vip: string): Promise<void> {
    const b = get();
    const c = new ConnClient(proto, vip, 80, inNode());
    try {
      expect(await c.line()).toBe(`CONNECTED ${vip}:80`);
      const first = await c.send();
      expect(first).toMatch(/^ANSWER p[12]$/);
      const pod = first.replace('ANSWER ', '') as Pod;
      await b.sync({ table: services(ALL.filter((p) => p !== pod)) }, { full: false });
      expect(b.lastDestroy).toMatchObject({ destroyed: { [proto]: 1 }, failed: [] });
      expect(await c.line()).toMatch(/^ERROR ECONNABORTED \d/);
      if (proto === 'tcp') expect(await c.line()).toBe('CLOSED');
      expect(await c.reconnect()).toBe(`CONNECTED ${vip}:80`);
      expect(await c.send()).toBe(`ANSWER ${ALL.find((p) => p !== pod)}`);
    } finally {
      c.close();
      await get().sync({ table: services() }, { full: false });
    }
  }

  it(`closes sockets of removed backends with ${methods.join(' and ') || 'no method (neither the kfunc nor netlink SOCK_DESTROY here: nothing to test)'}`, () => {
    expect(methods.length + (kernelUnavailableReason({ btf: true }) ? 1 : 0)).toBeGreaterThan(0);
  });
  for (const method of methods) {
    describe(`sockets of a removed IPv6 backend are closed (${method})`, () => {
      const backend = useBackend(method === 'netlink' ? { socketDestroy: 'netlink' } : {}, `destroy-${method}`);
      it(`uses ${method}`, () => expect(backend().socketDestroy?.method).toBe(method));
      it('UDP: a connected IPv6 client gets ECONNABORTED from the sync that removes its backend', () => closedWhenBackendGoes(backend, 'udp', VIP6));
      it('TCP: an IPv6 keep-alive connection is aborted by that sync', () => closedWhenBackendGoes(backend, 'tcp', VIP6));
      it('a dual-stack socket to ::ffff:VIP4 is closed when its IPv4 backend goes', () => closedWhenBackendGoes(backend, 'udp', `::ffff:${VIP4}`));
    });
  }

  describe('--socket-lb-host-netns-only', () => {
    const backend = useBackend({ socketLbHostNetnsOnly: true });

    it('a pod-netns IPv6 socket of the cgroup is left to tc_lb (no sock_rev6 entry); the node netns one is translated', async () => {
      const pod = new ConnClient('tcp', VIP6, 80, inPod());
      try {
        expect(await pod.line()).toBe(`CONNECTED ${VIP6}:80`);
        expect(await pod.send()).toMatch(/^ANSWER p[12]$/);
        expect(await translatedTo(backend(), VIP6)).toBe(0);
      } finally {
        pod.close();
      }
      const node = new ConnClient('tcp', VIP6, 80, inNode());
      try {
        expect(await node.line()).toBe(`CONNECTED ${VIP6}:80`);
        expect(await node.send()).toMatch(/^ANSWER p[12]$/);
        expect(await translatedTo(backend(), VIP6)).toBe(1);
      } finally {
        node.close();
      }
    });
  });
}, { btf: true });
