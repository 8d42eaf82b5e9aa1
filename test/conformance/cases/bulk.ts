// Bulk transfers through every kind of frontend, both directions. Small requests fit in
// one segment; a bulk flow makes the stack hand the proxy GSO/GRO packets larger than the
// MTU, which a FIB lookup given the packet's length refuses (the eBPF SNAT path stalled on
// it, at 0 bytes/s).
import { expect } from 'vitest';
import { endpointSlice, service } from '../../harness/manifests.js';
import { EXTERNAL, NODE_B, ep } from '../fixtures.js';
import { untilAnsweredBy } from '../answered.js';
import { eventually } from '../../harness/client.js';
import { nsRun } from '../../harness/netns.js';
import type { ConformanceCase } from '../types.js';

/** 20 MB on the host. Under qemu TCG every byte is emulated: 4 MB (still thousands of
 * segments, many GRO-merged) keeps the guest pass within its budget. */
const BYTES = process.env.BPFPROXY_IN_GUEST === '1' ? 4_000_000 : 20_000_000;
/** Per transfer, well inside the case's limit, so a stalled path is reported by name. */
const TIMEOUT_MS = process.env.BPFPROXY_IN_GUEST === '1' ? 60_000 : 10_000;
const NODE_A = '198.19.200.1';

export const bulkTransfer: ConformanceCase = {
  id: 'bulk-transfer',
  title: 'bulk transfers (20 MB; 4 MB under qemu) each way through ClusterIP, NodePort with SNAT, LoadBalancer IP, eTP Local and hairpin',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      // The endpoint is on node-b: from node-a that path is routed (and SNATed for NodePort/LB).
      service({ name: 'bulk', type: 'LoadBalancer', clusterIP: '198.19.1.211', loadBalancerIP: '198.19.250.21', ports: [{ port: 80, targetPort: 9376, nodePort: 30086 }] }),
      endpointSlice('bulk', [{ port: 9376 }], [ep('remote-f')]),
      service({ name: 'bulkl', type: 'NodePort', clusterIP: '198.19.1.212', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 9376, nodePort: 30087 }] }),
      endpointSlice('bulkl', [{ port: 9376 }], [ep('hostnames-a')]),
      service({ name: 'bulkh', clusterIP: '198.19.1.213', ports: [{ port: 80, targetPort: 9376 }] }),
      endpointSlice('bulkh', [{ port: 9376 }], [ep('hostnames-b')]),
    ]);
    const paths = [
      { what: 'ClusterIP, pod on the other node', target: '198.19.1.211:80', from: undefined, pod: 'remote-f' },
      { what: 'NodePort with SNAT (eTP Cluster), pod on the other node', target: `${NODE_A}:30086`, from: EXTERNAL, pod: 'remote-f' },
      { what: 'LoadBalancer IP', target: '198.19.250.21:80', from: EXTERNAL, pod: 'remote-f' },
      { what: 'NodePort, eTP Local', target: `${NODE_A}:30087`, from: EXTERNAL, pod: 'hostnames-a' },
      { what: 'hairpin', target: '198.19.1.213:80', from: 'hostnames-b', pod: 'hostnames-b' },
    ];
    for (const p of paths) await untilAnsweredBy(ctx, p.target, p.pod, p.from);
    const got: string[] = [];
    for (const p of paths) {
      const [up] = await ctx.request(p.target, { from: p.from, bytes: BYTES, timeoutMs: TIMEOUT_MS });
      const [down] = await ctx.request(p.target, { from: p.from, download: BYTES, timeoutMs: TIMEOUT_MS });
      got.push(`${p.what}: up ${up?.ok ? up.body : up?.error}, down ${down?.ok ? down.body : down?.error}`);
    }
    expect(got).toEqual(paths.map((p) => `${p.what}: up ${p.pod} ${BYTES}, down ${p.pod} ${BYTES}`));
  },
};

/** Uploads across a hop with a smaller MTU: 2 MB, enough for the first full-sized segment. */
const PMTU_BYTES = 2_000_000;

export const pathMtuDiscovery: ConformanceCase = {
  id: 'path-mtu-discovery',
  title: "uploads through a ClusterIP and a SNATed NodePort to a pod behind a 1400-byte hop: the hop's frag-needed reaches the client translated, so path-MTU discovery works",
  async run(ctx) {
    // A pod on node-b whose node-side veth has MTU 1400 while the pod itself advertises an
    // MSS for 1500: node-b forwards the client's full-sized segments onto that veth, refuses
    // them and sends "fragmentation needed" (MTU 1400) to their source, quoting them as they
    // arrived, i.e. DNATed (and SNATed). Untranslated, the client's stack finds no socket
    // for the quote and the upload stalls.
    await ctx.topo.addPod('mtu-pod', NODE_B, '198.18.2.30');
    try {
      const pod = ctx.topo.pod('mtu-pod');
      await nsRun(pod.node.ns, 'ip', ['link', 'set', pod.hostIf, 'mtu', '1400']);
      await ctx.manifests.write('svc.json', [
        service({ name: 'pmtu', type: 'NodePort', clusterIP: '198.19.1.214', ports: [{ port: 80, targetPort: 9376, nodePort: 30088 }] }),
        endpointSlice('pmtu', [{ port: 9376 }], [{ ip: '198.18.2.30', pod: 'mtu-pod', node: NODE_B }]),
      ]);
      const paths = [
        { what: 'ClusterIP from a pod on node-a', target: '198.19.1.214:80', from: undefined },
        { what: 'NodePort on node-a with SNAT, from outside', target: `${NODE_A}:30088`, from: EXTERNAL },
      ];
      for (const p of paths) await untilAnsweredBy(ctx, p.target, 'mtu-pod', p.from);
      const got: string[] = [];
      for (const p of paths) {
        const [up] = await ctx.request(p.target, { from: p.from, bytes: PMTU_BYTES, timeoutMs: TIMEOUT_MS });
        got.push(`${p.what}: ${up?.ok ? up.body : up?.error}`);
      }
      expect(got).toEqual(paths.map((p) => `${p.what}: mtu-pod ${PMTU_BYTES}`));
    } finally {
      await ctx.topo.removePod('mtu-pod');
    }
  },
};

/** A large DNS answer's size: over the 1500-byte MTU, so 3 IP fragments each way. */
const DATAGRAM = 4000;

export const fragmentedUdp: ConformanceCase = {
  id: 'udp-fragmented',
  title: 'a 4000-byte UDP datagram each way (IP fragments) through a ClusterIP and a SNATed NodePort to a pod on the other node',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      service({ name: 'bigdns', type: 'NodePort', clusterIP: '198.19.1.215', ports: [{ port: 53, targetPort: 9376, protocol: 'UDP', nodePort: 30089 }] }),
      endpointSlice('bigdns', [{ port: 9376, protocol: 'UDP' }], [ep('remote-f')]),
    ]);
    const paths = [
      { what: 'ClusterIP from a pod on node-a', target: '198.19.1.215:53', from: undefined },
      { what: 'NodePort on node-a with SNAT, from outside', target: `${NODE_A}:30089`, from: EXTERNAL },
    ];
    // Small datagrams first: the service is programmed on node-a.
    for (const p of paths) {
      await eventually(async () => {
        const [r] = await ctx.request(p.target, { from: p.from, proto: 'udp', timeoutMs: 1000 });
        expect(r?.body).toBe('remote-f');
      }, ctx.syncDeadlineMs);
    }
    const got: string[] = [];
    for (const p of paths) {
      // Three datagrams, each a new flow (its own socket): each must arrive whole, both ways.
      const rs = await ctx.request(p.target, { from: p.from, proto: 'udp', bytes: DATAGRAM, count: 3, timeoutMs: 2000 });
      got.push(`${p.what}: ${rs.map((r) => (r.ok ? r.body : r.error)).join(', ')}`);
    }
    const whole = `remote-f ${DATAGRAM} ${DATAGRAM}`;
    expect(got).toEqual(paths.map((p) => `${p.what}: ${whole}, ${whole}, ${whole}`));
  },
};
