// frontendsOf / nodeViewOf: every frontend of a service port with the endpoints its policy
// selects, node addresses from the Node object ∩ --nodeport-addresses (never the host's).
import { describe, expect, it } from 'vitest';
import { frontendsOf, nodeViewOf } from '../../src/model/frontends.js';
import { endpoint, featureTable, servicePort, serviceTable } from '../fixtures/service-table.js';

describe('nodeViewOf', () => {
  it('takes the Node object\'s addresses, narrowed by --nodeport-addresses', () => {
    const nodes = new Map([['node-a', { name: 'node-a', addresses: ['198.19.200.1', '198.18.0.1', '2001:db8::1'], podCIDRs: ['198.18.1.0/24'] }]]);
    const t = serviceTable([], 'node-a', nodes);
    expect(nodeViewOf(t)).toEqual({ nodeName: 'node-a', primaryIPs: { 4: '198.19.200.1', 6: '2001:db8::1' }, addresses: ['198.19.200.1', '198.18.0.1', '2001:db8::1'], nodePortAddresses: ['198.19.200.1', '198.18.0.1', '2001:db8::1'], podCIDRs: ['198.18.1.0/24'] });
    expect(nodeViewOf(t, ['198.19.200.0/24', '2001:db8::/64']).nodePortAddresses).toEqual(['198.19.200.1', '2001:db8::1']);
    expect(nodeViewOf(serviceTable([], 'node-x', nodes)).nodePortAddresses).toEqual([]); // an unknown node has none
  });

  it('reads --nodeport-addresses per family, as kube-proxy: keywords primary and all, a family without an entry keeps all its addresses', () => {
    // InternalIPs first (nodeInfo's order): the first of each family is the primary.
    const nodes = new Map([['node-a', { name: 'node-a', addresses: ['198.19.200.1', '2001:db8::1', '198.18.0.1', '2001:db8::2', '198.19.250.9'], podCIDRs: [] }]]);
    const t = serviceTable([], 'node-a', nodes);
    expect(nodeViewOf(t, ['primary']).nodePortAddresses).toEqual(['198.19.200.1', '2001:db8::1']);
    expect(nodeViewOf(t, ['all']).nodePortAddresses).toHaveLength(5);
    expect(nodeViewOf(t, ['198.18.0.0/16']).nodePortAddresses).toEqual(['2001:db8::1', '198.18.0.1', '2001:db8::2']); // IPv6: no entry, all
    expect(nodeViewOf(t, ['198.18.0.0/16', '0.0.0.0/0']).nodePortAddresses).toHaveLength(5);
    const v4only = serviceTable([], 'node-a', new Map([['node-a', { name: 'node-a', addresses: ['198.19.200.1', '198.19.250.9'], podCIDRs: [] }]]));
    expect(nodeViewOf(v4only, ['primary']).nodePortAddresses).toEqual(['198.19.200.1']);
  });
});

describe('frontendsOf', () => {
  const view = nodeViewOf(featureTable());

  it('ClusterIPs, NodePorts on the node addresses, external IPs, LB IPs — in that order, each with its policy\'s endpoints', () => {
    const ext = featureTable().services.get('default/ext/tcp')!;
    const fs = frontendsOf(ext, view);
    expect(fs.map((f) => [f.kind, f.address, f.port, f.external])).toEqual([
      ['ClusterIP', '198.19.1.177', 80, false],
      ['NodePort', '198.19.200.1', 30081, true],
      ['ExternalIP', '198.19.250.1', 80, true],
      ['LoadBalancer', '198.19.250.2', 80, true],
    ]);
    for (const f of fs) expect(f.endpoints.map((e) => e.ip).sort()).toEqual(['198.18.1.31', '198.18.2.31']);
  });

  it('externalTrafficPolicy Local: external frontends get local endpoints only; none here drops (not rejects)', () => {
    const local = frontendsOf(featureTable().services.get('default/np-local/tcp')!, view);
    expect(local.find((f) => f.kind === 'ClusterIP')!.endpoints.map((e) => e.ip).sort()).toEqual(['198.18.1.21', '198.18.2.21']);
    expect(local.find((f) => f.kind === 'NodePort')!.endpoints.map((e) => e.ip)).toEqual(['198.18.1.21']);
    const remoteOnly = servicePort({ name: 'r' }, { nodePort: 30090, externalTrafficPolicy: 'Local', endpoints: [endpoint('198.18.2.9', 9376, { nodeName: 'node-b' })] });
    const np = frontendsOf(remoteOnly, view).find((f) => f.kind === 'NodePort')!;
    expect(np).toMatchObject({ endpoints: [], dropEmpty: true });
    const none = frontendsOf(servicePort({ name: 'n' }), view)[0]!;
    expect(none).toMatchObject({ endpoints: [], dropEmpty: false }); // no endpoints at all: reject
  });

  it('families: an IPv6 ClusterIP is a frontend of family 6', () => {
    const dual = servicePort({ name: 'd' }, { clusterIPs: ['198.19.1.175', '2001:db8:19::1'] });
    expect(frontendsOf(dual, view).map((f) => f.family)).toEqual([4, 6]);
  });
});
