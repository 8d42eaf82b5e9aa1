// Traffic shapes a user's Services see: across nodes, evenly spread, several ports,
// TCP and UDP on one port, client source address, large bodies, hairpin.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { endpointSlice, service } from '../../harness/manifests.js';
import type { ChildProcess } from 'node:child_process';
import { nsRun, spawnInNetns } from '../../harness/netns.js';
import { CLIENT_B, CLIENT_B_IP, CLIENT_IP, NODE, NODE_B, ep, simpleService } from '../fixtures.js';
import type { ConformanceCase } from '../types.js';

export const crossNode: ConformanceCase = {
  id: 'cross-node-endpoints',
  title: 'endpoints on both nodes answer clients on either node',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('spread', '198.19.1.183', 80, [ep('hostnames-a'), ep('remote-f')]));
    for (const from of [undefined, CLIENT_B]) {
      await eventually(async () => {
        const { bodies, errors } = tally(await ctx.request('198.19.1.183:80', { count: 16, from }));
        expect([...bodies.keys()].sort()).toEqual(['hostnames-a', 'remote-f']);
        expect(errors.size).toBe(0);
      }, ctx.syncDeadlineMs);
    }
  },
};

export const distribution: ConformanceCase = {
  id: 'even-distribution',
  title: 'roughly even distribution over 300 new connections (each pod 60..140)',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('even', '198.19.1.184', 80, [ep('hostnames-a'), ep('hostnames-b'), ep('hostnames-c')]));
    await eventually(async () => expect(tally(await ctx.request('198.19.1.184:80', { count: 10 })).errors.size).toBe(0), ctx.syncDeadlineMs);
    const { bodies } = tally(await ctx.request('198.19.1.184:80', { count: 300 }));
    for (const pod of ['hostnames-a', 'hostnames-b', 'hostnames-c']) {
      expect(bodies.get(pod) ?? 0).toBeGreaterThanOrEqual(60);
      expect(bodies.get(pod) ?? 0).toBeLessThanOrEqual(140);
    }
  },
};

export const multiPort: ConformanceCase = {
  id: 'multiport-named',
  title: 'multiport Service with a named targetPort: each port reaches its endpoints; other ports do not',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      service({
        name: 'multi',
        clusterIP: '198.19.1.185',
        ports: [
          { name: 'http', port: 80, targetPort: 'web' },
          { name: 'alt', port: 8080, targetPort: 9376 },
        ],
      }),
      // The slice names ports after the Service ports and carries the resolved numbers.
      endpointSlice('multi', [{ name: 'http', port: 9376 }, { name: 'alt', port: 9376 }], [ep('hostnames-a'), ep('hostnames-b')]),
    ]);
    for (const target of ['198.19.1.185:80', '198.19.1.185:8080']) {
      await eventually(async () => {
        const { bodies } = tally(await ctx.request(target, { count: 12 }));
        expect([...bodies.keys()].sort()).toEqual(['hostnames-a', 'hostnames-b']);
      }, ctx.syncDeadlineMs);
    }
    const [other] = await ctx.request('198.19.1.185:81', { timeoutMs: 1000 });
    expect(other?.ok).toBe(false);
  },
};

export const tcpAndUdp: ConformanceCase = {
  id: 'same-port-tcp-udp',
  title: 'the same port number on TCP and UDP reaches the endpoints over both protocols',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      service({
        name: 'dns',
        clusterIP: '198.19.1.186',
        ports: [
          { name: 'dns-tcp', port: 53, targetPort: 9376, protocol: 'TCP' },
          { name: 'dns-udp', port: 53, targetPort: 9376, protocol: 'UDP' },
        ],
      }),
      endpointSlice('dns', [{ name: 'dns-tcp', port: 9376, protocol: 'TCP' }, { name: 'dns-udp', port: 9376, protocol: 'UDP' }], [ep('hostnames-c')]),
    ]);
    await eventually(async () => {
      expect(tally(await ctx.request('198.19.1.186:53', { count: 3 })).bodies.get('hostnames-c')).toBe(3);
      expect(tally(await ctx.request('198.19.1.186:53', { proto: 'udp', count: 3, timeoutMs: 1000 })).bodies.get('hostnames-c')).toBe(3);
    }, ctx.syncDeadlineMs + 3000);
  },
};

export const sourceIP: ConformanceCase = {
  id: 'pod-source-ip-preserved',
  title: "a pod client's source IP reaches the backend unchanged (same node and across nodes)",
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('whoami', '198.19.1.187', 80, [ep('hostnames-a')]));
    await eventually(async () => {
      const [r] = await ctx.request('198.19.1.187:80', { path: '/clientip' });
      expect(r?.body).toBe(CLIENT_IP);
    }, ctx.syncDeadlineMs);
    await eventually(async () => {
      const [r] = await ctx.request('198.19.1.187:80', { path: '/clientip', from: CLIENT_B });
      expect(r?.body).toBe(CLIENT_B_IP);
    }, ctx.syncDeadlineMs);
  },
};

export const largeRequest: ConformanceCase = {
  id: 'large-request',
  title: 'a 3000-byte request body arrives whole (segmentation and checksums after NAT)',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('big', '198.19.1.188', 80, [ep('hostnames-b')]));
    await eventually(async () => {
      const results = await ctx.request('198.19.1.188:80', { bytes: 3000, count: 3 });
      expect(results.map((r) => r.body)).toEqual(Array(3).fill('hostnames-b 3000'));
    }, ctx.syncDeadlineMs);
  },
};

export const hairpin: ConformanceCase = {
  id: 'hairpin',
  title: 'hairpin: a pod reaches itself through its own Service',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('self', '198.19.1.189', 80, [ep('hostnames-a')]));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request('198.19.1.189:80', { from: 'hostnames-a', count: 3 }));
      expect(bodies.get('hostnames-a')).toBe(3);
    }, ctx.syncDeadlineMs);
  },
};

export const nodeLocalClient: ConformanceCase = {
  id: 'node-local-client',
  title: "a client in the node's own network namespace reaches a ClusterIP (TCP and UDP)",
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      service({ name: 'fromnode', clusterIP: '198.19.1.207', ports: [{ name: 'http', port: 80, targetPort: 9376 }, { name: 'dns', port: 53, targetPort: 9376, protocol: 'UDP' }] }),
      endpointSlice('fromnode', [{ name: 'http', port: 9376 }, { name: 'dns', port: 9376, protocol: 'UDP' }], [ep('hostnames-a'), ep('remote-f')]),
    ]);
    await eventually(async () => {
      const { bodies, errors } = tally(await ctx.request('198.19.1.207:80', { from: 'node-a', count: 12 }));
      expect([...bodies.keys()].sort()).toEqual(['hostnames-a', 'remote-f']);
      expect(errors.size).toBe(0);
    }, ctx.syncDeadlineMs);
    await eventually(async () => {
      const { bodies } = tally(await ctx.request('198.19.1.207:53', { from: 'node-a', proto: 'udp', count: 6, timeoutMs: 1000 }));
      expect(bodies.size).toBeGreaterThan(0);
      expect([...bodies.keys()].every((b) => b === 'hostnames-a' || b === 'remote-f')).toBe(true);
    }, ctx.syncDeadlineMs);
  },
};

export const newPodFirstPacket: ConformanceCase = {
  id: 'new-pod-first-packet',
  title: "a pod created after the proxy started: its first datagram to a ClusterIP is translated",
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('firstpkt', '198.19.1.209', 53, [ep('hostnames-b')], 'UDP'));
    await eventually(async () => {
      const [r] = await ctx.request('198.19.1.209:53', { proto: 'udp', timeoutMs: 1000 });
      expect(r?.body).toBe('hostnames-b');
    }, ctx.syncDeadlineMs);
    // A pod's first packet is often a DNS query, sent as soon as its interface is up. One
    // datagram, no retry: untranslated, it would leave for the VIP and find no one.
    await ctx.topo.addPod('late-pod', NODE, '198.18.1.120', false);
    try {
      const [r] = await ctx.request('198.19.1.209:53', { from: 'late-pod', proto: 'udp', count: 1, timeoutMs: 2000 });
      expect(r).toMatchObject({ ok: true, body: 'hostnames-b' });
    } finally {
      await ctx.topo.removePod('late-pod');
    }
  },
};

export const ctInvalidDrop: ConformanceCase = {
  id: 'ctstate-invalid-drop',
  title: 'with "-m conntrack --ctstate INVALID -j DROP" on every node (firewalld, Calico), ClusterIP flows to local and remote pods still work',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('strict', '198.19.1.210', 80, [ep('hostnames-c'), ep('remote-g')]));
    await eventually(async () => {
      const { bodies, errors } = tally(await ctx.request('198.19.1.210:80', { count: 12 }));
      expect([...bodies.keys()].sort()).toEqual(['hostnames-c', 'remote-g']);
      expect(errors.size).toBe(0);
    }, ctx.syncDeadlineMs);
    // Netfilter must see both directions of a flow, or none: had it seen only the forward
    // half, it would call the client's ACKs INVALID and this rule would drop them.
    const rule = ['FORWARD', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'];
    const nodes = [...ctx.topo.nodes.values()];
    try {
      for (const n of nodes) await nsRun(n.ns, 'iptables', ['-I', ...rule]);
      const { bodies, errors } = tally(await ctx.request('198.19.1.210:80', { count: 12 }));
      expect(errors).toEqual(new Map());
      expect([...bodies.keys()].sort()).toEqual(['hostnames-c', 'remote-g']);
      const kept = await ctx.request('198.19.1.210:80', { count: 5, keepAlive: true, bytes: 200_000 });
      expect(kept.filter((r) => !r.ok)).toEqual([]);
      expect(kept[0]?.sockets).toBe(1);
    } finally {
      for (const n of nodes) await nsRun(n.ns, 'iptables', ['-D', ...rule], { allowFailure: true });
    }
  },
};

/** socat's log line once both ends of its tunnel are open. */
const SOCAT_READY = /starting data transfer loop/;

export const l3TunnelCrossNode: ConformanceCase = {
  id: 'l3-tunnel-cross-node',
  title: 'node-a reaches node-b pods over an L3 tunnel (no Ethernet header: IPIP in the guest kernel, tun devices on the host): ClusterIP replies arriving there are reverse-NATed',
  async run(ctx) {
    await ctx.manifests.write('svc.json', simpleService('tunneled', '198.19.1.216', 80, [ep('remote-f')]));
    await eventually(async () => {
      const [r] = await ctx.request('198.19.1.216:80', { timeoutMs: 1000 });
      expect(r?.body).toBe('remote-f');
    }, ctx.syncDeadlineMs);
    // A point-to-point tunnel between the nodes. Each node then routes the other's pod CIDR
    // over it, so the reply of a flow node-a DNATed comes back on node-a's tunnel device. The
    // guest kernel has IPIP (Calico's tunl0); the host kernel has no tunnel driver but tun:
    // there two tun devices are joined by socat over UDP (a WireGuard link without the crypto).
    const ipip = process.env.BPFPROXY_IN_GUEST === '1';
    const [a, b] = [ctx.topo.node(NODE), ctx.topo.node(NODE_B)];
    const tun = { a: `${ctx.topo.prefix}ta`, b: `${ctx.topo.prefix}tb` };
    // Each node's route to the other's pods, over the underlay now and over the tunnel below.
    const routes = [
      { ns: a.ns, dst: '198.18.2.0/24', dev: tun.a, via: b.address },
      { ns: b.ns, dst: '198.18.1.0/24', dev: tun.b, via: a.address },
    ];
    const socats: ChildProcess[] = [];
    try {
      for (const [me, peer, dev] of [[a, b, tun.a], [b, a, tun.b]] as const) {
        if (ipip) {
          await nsRun(me.ns, 'ip', ['link', 'add', dev, 'type', 'ipip', 'local', me.address, 'remote', peer.address]);
          await nsRun(me.ns, 'ip', ['link', 'set', dev, 'up']);
        } else {
          // socat logs to stderr; the harness waits on stdout (a socket, which -lf cannot open).
          socats.push(await spawnInNetns(me.ns, 'sh', ['-c', 'exec socat "$@" 2>&1', 'socat', '-d', '-d', `TUN,tun-type=tun,tun-name=${dev},iff-no-pi,iff-up`, `UDP-DATAGRAM:${peer.address}:47000,bind=${me.address}:47000`], SOCAT_READY));
        }
        await nsRun(me.ns, 'ip', ['link', 'set', dev, 'mtu', '1400']);
      }
      for (const r of routes) await nsRun(r.ns, 'ip', ['route', 'replace', r.dst, 'dev', r.dev]);
      // Over the tunnel now: every request must be answered by the VIP, from both nodes' clients.
      for (const from of [undefined, CLIENT_B]) {
        await eventually(async () => {
          const { bodies, errors } = tally(await ctx.request('198.19.1.216:80', { count: 8, from, timeoutMs: 2000 }));
          expect(errors).toEqual(new Map());
          expect([...bodies.keys()]).toEqual(['remote-f']);
        }, ctx.syncDeadlineMs);
      }
      const counters = await nsRun(a.ns, 'ip', ['-s', '-j', 'link', 'show', tun.a]);
      const rx = (JSON.parse(counters.stdout) as Array<{ stats64: { rx: { packets: number } } }>)[0]!.stats64.rx.packets;
      expect(rx).toBeGreaterThan(0); // the replies did come back over the tunnel
    } finally {
      for (const r of routes) await nsRun(r.ns, 'ip', ['route', 'replace', r.dst, 'via', r.via]);
      for (const s of socats) s.kill('SIGKILL');
      if (ipip) for (const [me, dev] of [[a, tun.a], [b, tun.b]] as const) await nsRun(me.ns, 'ip', ['link', 'del', dev], { allowFailure: true });
    }
  },
};
