// Endpoint selection with topology hints, each expectation worked out from kube-proxy
// v1.37's rules (pkg/proxy/topology.go): hints apply only when every ready endpoint has
// them and one names this node (node hints, PreferSameNode) or its zone (zone hints,
// PreferSameZone, topology-aware routing); they narrow the Cluster-policy endpoints only.
import { describe, expect, it } from 'vitest';
import { selectEndpoints } from '../../src/model/select-endpoints.js';
import type { Endpoint } from '../../src/model/types.js';
import { endpoint, servicePort } from '../fixtures/service-table.js';

const inZone = (ip: string, zone: string, extra: Partial<Endpoint> = {}) => endpoint(ip, 9376, { zoneHints: [zone], ...extra });
const ips = (es: Endpoint[]) => es.map((e) => e.ip).sort();

describe('selectEndpoints: topology hints', () => {
  const zoned = [inZone('198.18.1.2', 'z1'), inZone('198.18.2.2', 'z2', { nodeName: 'node-b' }), inZone('198.18.2.3', 'z1', { nodeName: 'node-b' })];

  it('zone hints: only the endpoints hinted for this node\'s zone', () => {
    const sel = selectEndpoints(servicePort({ name: 's' }, { endpoints: zoned }), 'node-a', 'z1');
    expect(ips(sel.cluster)).toEqual(['198.18.1.2', '198.18.2.3']);
    expect(ips(sel.internal)).toEqual(['198.18.1.2', '198.18.2.3']);
    expect(ips(selectEndpoints(servicePort({ name: 's' }, { endpoints: zoned }), 'node-b', 'z2').cluster)).toEqual(['198.18.2.2']);
  });

  it('ignored when a ready endpoint has no hint, when none names this zone, or when the node has no zone', () => {
    const unhinted = [...zoned, endpoint('198.18.2.4', 9376, { nodeName: 'node-b' })];
    expect(ips(selectEndpoints(servicePort({ name: 's' }, { endpoints: unhinted }), 'node-a', 'z1').cluster)).toHaveLength(4);
    expect(ips(selectEndpoints(servicePort({ name: 's' }, { endpoints: zoned }), 'node-a', 'z3').cluster)).toHaveLength(3);
    expect(ips(selectEndpoints(servicePort({ name: 's' }, { endpoints: zoned }), 'node-a', undefined).cluster)).toHaveLength(3);
  });

  it('an unready endpoint without hints does not turn them off', () => {
    const eps = [...zoned, endpoint('198.18.2.9', 9376, { ready: false, serving: false })];
    expect(ips(selectEndpoints(servicePort({ name: 's' }, { endpoints: eps }), 'node-a', 'z1').cluster)).toEqual(['198.18.1.2', '198.18.2.3']);
  });

  it('node hints (PreferSameNode) come first: only the endpoints hinted for this node', () => {
    const eps = zoned.map((e) => ({ ...e, nodeHints: [e.nodeName!] }));
    expect(ips(selectEndpoints(servicePort({ name: 's' }, { endpoints: eps }), 'node-b', 'z1').cluster)).toEqual(['198.18.2.2', '198.18.2.3']);
    // No endpoint for node-c: the zone hints decide.
    expect(ips(selectEndpoints(servicePort({ name: 's' }, { endpoints: eps }), 'node-c', 'z2').cluster)).toEqual(['198.18.2.2']);
  });

  it('Local policies are not narrowed; the terminating fallback ignores hints', () => {
    const sel = selectEndpoints(servicePort({ name: 's' }, { endpoints: zoned, nodePort: 30080, externalTrafficPolicy: 'Local' }), 'node-b', 'z1');
    expect(ips(sel.internal)).toEqual(['198.18.1.2', '198.18.2.3']);
    expect(ips(sel.external)).toEqual(['198.18.2.2', '198.18.2.3']); // node-b's own, whatever their zone
    const terminating = zoned.map((e) => ({ ...e, ready: false, terminating: true }));
    expect(ips(selectEndpoints(servicePort({ name: 's' }, { endpoints: terminating }), 'node-a', 'z1').cluster)).toHaveLength(3);
  });
});
