// Dual-stack Services as the API server stores them (ipFamilyPolicy RequireDualStack: one
// ClusterIP and one EndpointSlice per family), and the external paths over IPv6: NodePort on
// the nodes' IPv6 InternalIPs (2001:db8:19:200::<n>), externalTrafficPolicy Local, ClientIP
// affinity. The external client is 2001:db8:19:200::100, on-link with both nodes.
// Where a case can tell, the IPv4 and IPv6 slices list different pods, so an answer shows
// which family's endpoints a frontend reached.
import { expect } from 'vitest';
import { eventually, tally } from '../../harness/client.js';
import { endpointSlice, service, type ServiceSpec } from '../../harness/manifests.js';
import { nsRun } from '../../harness/netns.js';
import { EXTERNAL, CLIENT, ep, ep6 } from '../fixtures.js';
import type { ConformanceCase, ConformanceContext } from '../types.js';

/** `[ip]:port` for IPv6, `ip:port` for IPv4. */
const at = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** A dual-stack Service (v4 VIP first: the cluster's primary family) with its two slices. */
function dualStack(s: Omit<ServiceSpec, 'ports'> & { secondClusterIP: string; nodePort?: number }, pods4: string[], pods6: string[]): object[] {
  const { nodePort, ...spec } = s;
  return [
    service({ ...spec, ports: [{ port: 80, targetPort: 9376, ...(nodePort ? { nodePort } : {}) }] }),
    endpointSlice(s.name, [{ port: 9376 }], pods4.map((p) => ep(p)), 'default', `${s.name}-ipv4`),
    endpointSlice(s.name, [{ port: 9376 }], pods6.map((p) => ep6(p)), 'default', `${s.name}-ipv6`),
  ];
}

/** Within one sync deadline, `count` requests to `target` are all answered, by exactly `pods`. */
async function untilServedBy(ctx: ConformanceContext, target: string, pods: string[], from?: string, count = 16): Promise<void> {
  await eventually(async () => {
    const { bodies, errors } = tally(await ctx.request(target, { from, count }));
    expect([...bodies.keys()].sort()).toEqual([...pods].sort());
    expect(errors.size).toBe(0);
  }, ctx.syncDeadlineMs);
}

/** The source address the pod behind `target` saw (GET /clientip, answered). */
async function clientIPSeen(ctx: ConformanceContext, target: string, from?: string): Promise<string> {
  const [r] = await ctx.request(target, { from, path: '/clientip' });
  expect(r?.ok, `GET ${target}/clientip: ${r?.error}`).toBe(true);
  return r!.body!;
}

const nodes6 = (ctx: ConformanceContext) => ['node-a', 'node-b'].map((n) => ctx.topo.node(n).address6);
const nodes4 = (ctx: ConformanceContext) => ['node-a', 'node-b'].map((n) => ctx.topo.node(n).address);

export const dualStackClusterIP: ConformanceCase = {
  id: 'dual-stack-clusterip',
  title: "dual-stack ClusterIP: both VIPs answer, each from its own family's EndpointSlice, the pod client's v6 source kept",
  async run(ctx) {
    await ctx.manifests.write('svc.json', dualStack({ name: 'ds', clusterIP: '198.19.1.230', secondClusterIP: '2001:db8:19::230' }, ['hostnames-a', 'remote-f'], ['hostnames-b', 'remote-g']));
    await untilServedBy(ctx, '198.19.1.230:80', ['hostnames-a', 'remote-f']);
    await untilServedBy(ctx, '[2001:db8:19::230]:80', ['hostnames-b', 'remote-g']);
    // From the other node's client pod too, and with its address unchanged (cluster CIDR: no masquerade).
    await untilServedBy(ctx, '[2001:db8:19::230]:80', ['hostnames-b', 'remote-g'], 'client-b');
    expect(await clientIPSeen(ctx, '[2001:db8:19::230]:80', CLIENT)).toBe(ctx.topo.pod(CLIENT).ip6);
  },
};

export const ipv6NodePort: ConformanceCase = {
  id: 'ipv6-nodeport',
  title: "IPv6 NodePort: [node v6 address]:nodePort on either node reaches the v6 endpoints on both nodes (SNAT, eTP Cluster); the same Service's v4 NodePort still works",
  async run(ctx) {
    const ext6 = ctx.topo.pod(EXTERNAL).ip6;
    await ctx.manifests.write(
      'svc.json',
      dualStack({ name: 'np6', type: 'NodePort', clusterIP: '198.19.1.231', secondClusterIP: '2001:db8:19::231', nodePort: 30100 }, ['hostnames-a', 'remote-f'], ['hostnames-b', 'remote-g']),
    );
    for (const node of nodes6(ctx)) {
      await untilServedBy(ctx, at(node, 30100), ['hostnames-b', 'remote-g'], EXTERNAL);
      // Cluster policy: the pod sees a node address, not the client (replies return via the node).
      expect(await clientIPSeen(ctx, at(node, 30100), EXTERNAL)).not.toBe(ext6);
    }
    for (const node of nodes4(ctx)) await untilServedBy(ctx, at(node, 30100), ['hostnames-a', 'remote-f'], EXTERNAL);
  },
};

export const ipv6ExternalLocal: ConformanceCase = {
  id: 'ipv6-external-traffic-policy-local',
  title: "IPv6 externalTrafficPolicy Local: each node's v6 NodePort serves only its own endpoints with the client's v6 address preserved; a node with none does not answer",
  async run(ctx) {
    const ext6 = ctx.topo.pod(EXTERNAL).ip6;
    const [a6, b6] = nodes6(ctx) as [string, string];
    await ctx.manifests.write('svc.json', [
      ...dualStack({ name: 'loc6', type: 'NodePort', clusterIP: '198.19.1.232', secondClusterIP: '2001:db8:19::232', externalTrafficPolicy: 'Local', nodePort: 30101 }, ['hostnames-a', 'remote-f'], ['hostnames-a', 'remote-f']),
      ...dualStack({ name: 'loc61', type: 'NodePort', clusterIP: '198.19.1.233', secondClusterIP: '2001:db8:19::233', externalTrafficPolicy: 'Local', nodePort: 30102 }, ['hostnames-a'], ['hostnames-a']),
    ]);
    for (const [node, pod] of [
      [a6, 'hostnames-a'],
      [b6, 'remote-f'],
    ] as const) {
      await untilServedBy(ctx, at(node, 30101), [pod], EXTERNAL, 10);
      expect(await clientIPSeen(ctx, at(node, 30101), EXTERNAL)).toBe(ext6);
    }
    await untilServedBy(ctx, at(a6, 30102), ['hostnames-a'], EXTERNAL, 4);
    // node-b has no endpoint of loc61: kube-proxy drops there (no fallback to node-a's endpoint).
    const results = await ctx.request(at(b6, 30102), { from: EXTERNAL, count: 2, timeoutMs: 800 });
    expect(results.filter((r) => r.ok)).toEqual([]);
  },
};

const PODS3 = ['hostnames-a', 'hostnames-b', 'hostnames-c'];
/** Twelve more addresses of the external client, one "host" each (2001:db8:19:200::1:1 …). */
const AFFINITY_CLIENTS = Array.from({ length: 12 }, (_, i) => `2001:db8:19:200::1:${(i + 1).toString(16)}`);

/** A dual-stack NodePort Service with ClientIP affinity over hostnames-a/b/c (both families). */
function sticky6(name: string, last: number, nodePort: number, timeoutSeconds: number): object[] {
  return dualStack({ name, type: 'NodePort', clusterIP: `198.19.1.${last}`, secondClusterIP: `2001:db8:19::${last}`, nodePort, sessionAffinity: { timeoutSeconds } }, PODS3, PODS3);
}

/** Within one sync deadline, `count` requests to `target` (from the client pod, or `from`) all reach one pod: which. */
async function untilSticky(ctx: ConformanceContext, target: string, from?: string, count = 20): Promise<string> {
  return eventually(async () => {
    const { bodies } = tally(await ctx.request(target, { from, count }));
    expect([...bodies.values()]).toEqual([count]);
    return [...bodies.keys()][0]!;
  }, ctx.syncDeadlineMs);
}

export const ipv6Affinity: ConformanceCase = {
  id: 'ipv6-clientip-affinity',
  title: 'IPv6 ClientIP affinity: a client sticks to one pod through the v6 ClusterIP and the v6 NodePort; twelve external v6 clients each stick, and not all to the same pod',
  async run(ctx) {
    await ctx.manifests.write('svc.json', sticky6('sticky6', 234, 30103, 300));
    await untilSticky(ctx, '[2001:db8:19::234]:80');
    const target = at(ctx.topo.node('node-a').address6, 30103);
    // Separate source addresses of the external client stand for separate hosts (the node sees one address each).
    const ext = ctx.topo.pod(EXTERNAL).ns;
    const batch = (op: string) => AFFINITY_CLIENTS.map((a) => `addr ${op} ${a}/64 dev eth0 nodad`).join('\n') + '\n';
    try {
      await nsRun(ext, 'ip', ['-force', '-batch', '-'], { input: batch('add') });
      // The NodePort is programmed once the external client's own address sticks there too.
      await untilSticky(ctx, target, EXTERNAL, 8);
      const chosen = new Map<string, string>();
      for (const from of AFFINITY_CLIENTS) {
        const { bodies, errors } = tally(await ctx.request(target, { from: EXTERNAL, localAddress: from, count: 4 }));
        ctx.log.push(`${from}: ${[...bodies].map(([b, n]) => `${b}×${n}`).join(' ')}`);
        expect(errors.size, `${from}: errors`).toBe(0);
        expect(bodies.size, `${from} answered by more than one pod`).toBe(1);
        chosen.set(from, [...bodies.keys()][0]!);
      }
      // All twelve on one of three pods by chance: 3 × (1/3)^12 ≈ 6e-6.
      expect(new Set(chosen.values()).size).toBeGreaterThan(1);
    } finally {
      await nsRun(ext, 'ip', ['-force', '-batch', '-'], { input: batch('del'), allowFailure: true });
    }
  },
};

export const ipv6AffinityTimeout: ConformanceCase = {
  id: 'ipv6-clientip-affinity-timeout',
  title: 'IPv6 ClientIP affinity timeout: a client sticks to one pod through the v6 ClusterIP, and may move once the 1 s timeout passes',
  async run(ctx) {
    const vip = '[2001:db8:19::235]:80';
    await ctx.manifests.write('svc.json', sticky6('sticky6t', 235, 30104, 1));
    const first = await untilSticky(ctx, vip);
    // After >1 s idle the choice is made afresh; over 8 idle gaps a second pod must show up
    // (chance of never moving with 3 pods: (1/3)^8). The gaps are the idle time under test.
    const seen = new Set([first]);
    for (let i = 0; i < 8 && seen.size < 2; i++) {
      await new Promise((r) => setTimeout(r, 2200));
      const [r] = await ctx.request(vip);
      if (r?.ok) seen.add(r.body!);
    }
    expect(seen.size).toBe(2);
  },
};
