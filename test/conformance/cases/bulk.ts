// Bulk transfers through every kind of frontend, both directions. Small requests fit in
// one segment; 20 MB makes the stack hand the proxy GSO/GRO packets larger than the MTU,
// which a FIB lookup with the packet's length refuses (the eBPF SNAT path stalled on it).
import { expect } from 'vitest';
import { endpointSlice, service } from '../../harness/manifests.js';
import { EXTERNAL, ep } from '../fixtures.js';
import { untilAnsweredBy } from '../answered.js';
import type { ConformanceCase } from '../types.js';

const MB20 = 20_000_000;
const NODE_A = '198.19.200.1';

export const bulkTransfer: ConformanceCase = {
  id: 'bulk-transfer',
  title: '20 MB each way through ClusterIP, NodePort with SNAT, LoadBalancer IP, eTP Local and hairpin',
  async run(ctx) {
    await ctx.manifests.write('svc.json', [
      // The endpoint is on node-b: from node-a that path is routed (and SNATed for NodePort/LB).
      service({ name: 'bulk', type: 'LoadBalancer', clusterIP: '198.19.1.210', loadBalancerIP: '198.19.250.21', ports: [{ port: 80, targetPort: 9376, nodePort: 30085 }] }),
      endpointSlice('bulk', [{ port: 9376 }], [ep('remote-f')]),
      service({ name: 'bulkl', type: 'NodePort', clusterIP: '198.19.1.211', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 9376, nodePort: 30086 }] }),
      endpointSlice('bulkl', [{ port: 9376 }], [ep('hostnames-a')]),
      service({ name: 'bulkh', clusterIP: '198.19.1.212', ports: [{ port: 80, targetPort: 9376 }] }),
      endpointSlice('bulkh', [{ port: 9376 }], [ep('hostnames-b')]),
    ]);
    const paths = [
      { what: 'ClusterIP, pod on the other node', target: '198.19.1.210:80', from: undefined, pod: 'remote-f' },
      { what: 'NodePort with SNAT (eTP Cluster), pod on the other node', target: `${NODE_A}:30085`, from: EXTERNAL, pod: 'remote-f' },
      { what: 'LoadBalancer IP', target: '198.19.250.21:80', from: EXTERNAL, pod: 'remote-f' },
      { what: 'NodePort, eTP Local', target: `${NODE_A}:30086`, from: EXTERNAL, pod: 'hostnames-a' },
      { what: 'hairpin', target: '198.19.1.212:80', from: 'hostnames-b', pod: 'hostnames-b' },
    ];
    for (const p of paths) await untilAnsweredBy(ctx, p.target, p.pod, p.from);
    const got: string[] = [];
    for (const p of paths) {
      const [up] = await ctx.request(p.target, { from: p.from, bytes: MB20, timeoutMs: 30_000 });
      const [down] = await ctx.request(p.target, { from: p.from, download: MB20, timeoutMs: 30_000 });
      got.push(`${p.what}: up ${up?.ok ? up.body : up?.error}, down ${down?.ok ? down.body : down?.error}`);
    }
    expect(got).toEqual(paths.map((p) => `${p.what}: up ${p.pod} ${MB20}, down ${p.pod} ${MB20}`));
  },
};
