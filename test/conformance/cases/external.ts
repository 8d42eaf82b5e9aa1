// Traffic from outside the cluster: NodePort on either node, externalIPs, LoadBalancer
// ingress IPs, and externalTrafficPolicy Local vs Cluster. The external client is
// 198.19.200.100 on the underlay; it routes 198.19.250.0/24 via node-a.
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { endpointSlice, service } from '../../harness/manifests.js';
import { nsRun } from '../../harness/netns.js';
import { EXTERNAL, ep } from '../fixtures.js';
import { untilAnsweredBy } from '../answered.js';
import type { ConformanceCase } from '../types.js';

const NODE_A = '198.19.200.1';
const NODE_B = '198.19.200.2';
const EXT_IP = '198.19.200.100';

/** A NodePort Service (port 80 → 9376) with a pod on each node. */
function nodePortService(name: string, clusterIP: string, nodePort: number): object[] {
  return [
    service({ name, type: 'NodePort', clusterIP, ports: [{ port: 80, targetPort: 9376, nodePort }] }),
    endpointSlice(name, [{ port: 9376 }], [ep('hostnames-a'), ep('remote-f')]),
  ];
}

export const nodePort: ConformanceCase = {
  id: 'nodeport-both-nodes',
  title: 'NodePort from an external client to either node reaches pods on both nodes (SNAT, eTP Cluster)',
  async run(ctx) {
    await ctx.manifests.write('svc.json', nodePortService('np', '198.19.1.200', 30080));
    const fastBefore = await ctx.fastPathPackets?.('node-a');
    for (const node of [NODE_A, NODE_B]) {
      await eventually(async () => {
        const { bodies, errors } = tally(await ctx.request(`${node}:30080`, { from: EXTERNAL, count: 16 }));
        expect([...bodies.keys()].sort()).toEqual(['hostnames-a', 'remote-f']);
        expect(errors.size).toBe(0);
      }, ctx.syncDeadlineMs);
      // Cluster policy: the backend sees a node address, not the client (so replies return via the node).
      const [r] = await ctx.request(`${node}:30080`, { from: EXTERNAL, path: '/clientip' });
      expect(r?.body).not.toBe(EXT_IP);
    }
    // A backend with a fast path (ebpf: XDP on the external interface, on by default) handled
    // this north-south traffic there, not only in its main path.
    if (fastBefore !== undefined) expect((await ctx.fastPathPackets!('node-a')) - fastBefore).toBeGreaterThan(0);
  },
};

export const nodePortPrimary: ConformanceCase = {
  id: 'nodeport-addresses-primary',
  title: "--nodeport-addresses primary: a NodePort answers on the Node's primary address and not on another address of the node",
  async run(ctx) {
    // A second address on node-a's underlay interface, not in its Node object, routed to it by the external client.
    const second = '198.19.201.1';
    const node = ctx.topo.node('node-a');
    const ext = ctx.topo.pod(EXTERNAL);
    await nsRun(node.ns, 'ip', ['addr', 'add', `${second}/32`, 'dev', 'eth0']);
    await nsRun(ext.ns, 'ip', ['route', 'add', `${second}/32`, 'via', NODE_A]);
    try {
      await ctx.manifests.write('svc.json', [
        service({ name: 'npp', type: 'NodePort', clusterIP: '198.19.1.218', ports: [{ port: 80, targetPort: 9376, nodePort: 30094 }] }),
        endpointSlice('npp', [{ port: 9376 }], [ep('hostnames-a')]),
      ]);
      await ctx.proxy.restart(['--nodeport-addresses=primary']);
      await untilAnsweredBy(ctx, `${NODE_A}:30094`, 'hostnames-a', EXTERNAL);
      const results = await ctx.request(`${second}:30094`, { from: EXTERNAL, count: 3, timeoutMs: 1500 });
      expect(results.filter((r) => r.ok)).toEqual([]);
    } finally {
      await ctx.proxy.restart();
      await nsRun(ext.ns, 'ip', ['route', 'del', `${second}/32`]);
      await nsRun(node.ns, 'ip', ['addr', 'del', `${second}/32`, 'dev', 'eth0']);
    }
  },
};

export const loadBalancerSourceRanges: ConformanceCase = {
  id: 'loadbalancer-source-ranges',
  title: 'loadBalancerSourceRanges: the LoadBalancer IP answers clients inside the ranges only (others dropped); its NodePort stays open',
  async run(ctx) {
    const write = (ranges: string[]) =>
      ctx.manifests.write('svc.json', [
        service({ name: 'lbsr', type: 'LoadBalancer', clusterIP: '198.19.1.219', loadBalancerIP: '198.19.250.24', loadBalancerSourceRanges: ranges, ports: [{ port: 80, targetPort: 9376, nodePort: 30095 }] }),
        endpointSlice('lbsr', [{ port: 9376 }], [ep('hostnames-a'), ep('remote-f')]),
      ]);
    await write([`${EXT_IP}/32`, '198.19.99.0/24']);
    await untilAnsweredBy(ctx, '198.19.250.24:80', 'hostnames-a', EXTERNAL);
    await write(['198.19.99.0/24']);
    // Outside the ranges now: dropped, so a timeout and not a refusal.
    await eventually(async () => {
      const [r] = await ctx.request('198.19.250.24:80', { from: EXTERNAL, timeoutMs: 1000 });
      expect(r?.error).toBe('timeout');
    }, ctx.syncDeadlineMs);
    // Ranges restrict the LoadBalancer IPs only (kube-proxy's rule): the NodePort still answers.
    await untilAnsweredBy(ctx, `${NODE_A}:30095`, 'hostnames-a', EXTERNAL);
  },
};

export const localhostNodePort: ConformanceCase = {
  id: 'localhost-nodeport',
  title: "localhost NodePorts: a process on the node reaches a NodePort on 127.0.0.1 (kube-proxy's iptables default, route_localnet)",
  async run(ctx) {
    await ctx.manifests.write('svc.json', nodePortService('nplo', '198.19.1.220', 30096));
    await eventually(async () => {
      const { bodies } = tally(await ctx.request('127.0.0.1:30096', { from: 'node-a', count: 12 }));
      expect([...bodies.keys()].sort()).toEqual(['hostnames-a', 'remote-f']);
    }, ctx.syncDeadlineMs);
  },
};

export const externalIPs: ConformanceCase = {
  id: 'external-ips',
  title: 'externalIPs: 198.19.250.10:80 from the external client reaches the endpoints',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      service({ name: 'extip', clusterIP: '198.19.1.201', externalIPs: ['198.19.250.10'], ports: [{ port: 80, targetPort: 9376 }] }),
      endpointSlice('extip', [{ port: 9376 }], [ep('hostnames-b'), ep('remote-g')]),
    ]);
    await eventually(async () => {
      const { bodies, errors } = tally(await ctx.request('198.19.250.10:80', { from: EXTERNAL, count: 16 }));
      expect([...bodies.keys()].sort()).toEqual(['hostnames-b', 'remote-g']);
      expect(errors.size).toBe(0);
    }, ctx.syncDeadlineMs);
  },
};

export const loadBalancer: ConformanceCase = {
  id: 'loadbalancer-ingress-ip',
  title: 'LoadBalancer: the ingress IP 198.19.250.20:80 reaches the endpoints (also after it was tried before its Service existed)',
  async run(ctx) {
    // Clients may try an LB IP before the proxy programs it: node-a then just routes the
    // packets (they time out). Nothing of that may stick once the Service is programmed.
    const early = await ctx.request('198.19.250.20:80', { from: EXTERNAL, count: 2, timeoutMs: 1500 });
    expect(early.some((r) => r.ok)).toBe(false);
    await ctx.manifests.write('svc.json', [
      service({ name: 'lb', type: 'LoadBalancer', clusterIP: '198.19.1.202', loadBalancerIP: '198.19.250.20', ports: [{ port: 80, targetPort: 9376, nodePort: 30082 }] }),
      endpointSlice('lb', [{ port: 9376 }], [ep('hostnames-c'), ep('remote-f')]),
    ]);
    await eventually(async () => {
      const { bodies, errors } = tally(await ctx.request('198.19.250.20:80', { from: EXTERNAL, count: 16 }));
      expect([...bodies.keys()].sort()).toEqual(['hostnames-c', 'remote-f']);
      expect(errors.size).toBe(0);
    }, ctx.syncDeadlineMs);
  },
};

export const externalLocal: ConformanceCase = {
  id: 'external-traffic-policy-local',
  title: 'externalTrafficPolicy Local: each node serves only its own endpoints with the client IP preserved; a node with none drops',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      service({ name: 'loc', type: 'NodePort', clusterIP: '198.19.1.203', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 9376, nodePort: 30083 }] }),
      endpointSlice('loc', [{ port: 9376 }], [ep('hostnames-a'), ep('remote-f')]),
      service({ name: 'loc1', type: 'NodePort', clusterIP: '198.19.1.204', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 9376, nodePort: 30084 }] }),
      endpointSlice('loc1', [{ port: 9376 }], [ep('hostnames-a')]),
    ]);
    for (const [node, pod] of [
      [NODE_A, 'hostnames-a'],
      [NODE_B, 'remote-f'],
    ] as const) {
      await eventually(async () => {
        const { bodies } = tally(await ctx.request(`${node}:30083`, { from: EXTERNAL, count: 10 }));
        expect([...bodies.keys()]).toEqual([pod]);
        const [r] = await ctx.request(`${node}:30083`, { from: EXTERNAL, path: '/clientip' });
        expect(r?.body).toBe(EXT_IP);
      }, ctx.syncDeadlineMs);
    }
    await untilAnsweredBy(ctx, `${NODE_A}:30084`, 'hostnames-a', EXTERNAL);
    const results = await ctx.request(`${NODE_B}:30084`, { from: EXTERNAL, count: 2, timeoutMs: 800 });
    expect(results.every((r) => !r.ok)).toBe(true);
  },
};

/** 50 extra addresses of the external client, one "host" each (198.19.200.150–199). */
const SAME_PORT_CLIENTS = Array.from({ length: 50 }, (_, i) => `198.19.200.${150 + i}`);
const SAME_PORT_SCRIPT = fileURLToPath(new URL('../../harness/same-port-clients.mjs', import.meta.url));

export const snatSameSourcePort: ConformanceCase = {
  id: 'snat-same-source-port',
  title: 'NodePort SNAT: 50 external clients on one source port, connected at once, each gets its own replies',
  async run(ctx) {
    // The pod is on node-b, so every flow is SNATed to node-a's address: the node must give
    // each flow its own source port, or the pod sees one 4-tuple for 50 connections.
    await ctx.manifests.write('svc.json', [
      service({ name: 'samep', type: 'NodePort', clusterIP: '198.19.1.208', ports: [{ port: 80, targetPort: 9376, nodePort: 30085 }] }),
      endpointSlice('samep', [{ port: 9376 }], [ep('remote-f')]),
    ]);
    await untilAnsweredBy(ctx, `${NODE_A}:30085`, 'remote-f', EXTERNAL);
    // Separate addresses on the external client stand for separate hosts: what the node sees
    // is the same (one source address each), and one `ip -batch` keeps this cheap in the guest.
    const ext = ctx.topo.pod(EXTERNAL).ns;
    const batch = (op: string) => SAME_PORT_CLIENTS.map((a) => `addr ${op} ${a}/24 dev eth0`).join('\n') + '\n';
    try {
      await nsRun(ext, 'ip', ['-force', '-batch', '-'], { input: batch('add') });
      const rounds = 3;
      const r = await nsRun(ext, process.execPath, [SAME_PORT_SCRIPT, '--target', `${NODE_A}:30085`, '--local-port', '40000', '--from', SAME_PORT_CLIENTS.join(','), '--rounds', String(rounds), '--timeout', '5000'], { timeoutMs: 60_000 });
      const got = JSON.parse(r.stdout) as Array<{ from: string; answers: string[]; error?: string }>;
      const want = SAME_PORT_CLIENTS.map((from, i) => ({ from, answers: Array.from({ length: rounds }, (_, k) => `remote-f ${1000 + i * 16 + k}`) }));
      ctx.log.push(`same-port clients: ${got.filter((c) => !c.error).length}/${got.length} without error; first error: ${got.find((c) => c.error)?.error ?? 'none'}`);
      expect(got).toEqual(want);
    } finally {
      await nsRun(ext, 'ip', ['-force', '-batch', '-'], { input: batch('del'), allowFailure: true });
    }
  },
};

/** GET from the external client: [HTTP status, parsed JSON body]. */
async function probe(ctx: Parameters<ConformanceCase['run']>[0], url: string): Promise<[number, { localEndpoints?: number; service?: unknown }]> {
  const r = await nsRun(ctx.topo.pod(EXTERNAL).ns, 'curl', ['-s', '-m', '3', '-w', '\n%{http_code}', url], { allowFailure: true });
  const i = r.stdout.lastIndexOf('\n');
  const body = r.stdout.slice(0, i);
  return [Number(r.stdout.slice(i + 1)), body.startsWith('{') ? (JSON.parse(body) as { localEndpoints?: number }) : {}];
}

export const healthCheckNodePort: ConformanceCase = {
  id: 'health-check-node-port',
  title: "healthCheckNodePort (LoadBalancer, eTP Local): each node answers the cloud's probe 200 with its local endpoint count, or 503 with none",
  async run(ctx) {
    const write = (pod: string) => {
      const svc = service({ name: 'hc', type: 'LoadBalancer', clusterIP: '198.19.1.209', externalTrafficPolicy: 'Local', loadBalancerIP: '198.19.250.30', ports: [{ port: 80, targetPort: 9376, nodePort: 30091 }] }) as { spec: Record<string, unknown> };
      svc.spec.healthCheckNodePort = 30092;
      return ctx.manifests.write('svc.json', [svc, endpointSlice('hc', [{ port: 9376 }], [ep(pod)])]);
    };
    await write('hostnames-a');
    const expectProbe = async (node: string, status: number, local: number) =>
      eventually(async () => {
        const [code, body] = await probe(ctx, `http://${node}:30092/healthz`);
        expect(code).toBe(status);
        expect(body).toEqual({ service: { namespace: 'default', name: 'hc' }, localEndpoints: local, serviceProxyHealthy: true });
      }, ctx.syncDeadlineMs);
    await expectProbe(NODE_A, 200, 1);
    await expectProbe(NODE_B, 503, 0);
    // The endpoint moves to node-b: the answers follow.
    await write('remote-f');
    await expectProbe(NODE_A, 503, 0);
    await expectProbe(NODE_B, 200, 1);
    // Service gone: nothing listens on the port any more (curl: no HTTP status, 000).
    await ctx.manifests.remove('svc.json');
    await eventually(async () => expect((await probe(ctx, `http://${NODE_B}:30092/healthz`))[0]).toBe(0), ctx.syncDeadlineMs);
  },
};
