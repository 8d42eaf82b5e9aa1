// Small ServiceTable builders for the pure render/diff tests.
import type { Endpoint, ServicePortEntry, ServiceTable } from '../../../src/model/types.js';

export function ep(ip: string, extra: Partial<Endpoint> = {}): Endpoint {
  return { ip, port: 9376, ready: true, serving: true, terminating: false, nodeName: 'node-a', ...extra };
}

export function svc(name: string, extra: Partial<ServicePortEntry> = {}): ServicePortEntry {
  const protocol = extra.protocol ?? 'TCP';
  return {
    key: `default/${name}/${protocol.toLowerCase()}`,
    name: { namespace: 'default', name, port: '', protocol },
    clusterIPs: ['198.19.1.175'],
    port: 80,
    protocol,
    nodePort: 0,
    externalIPs: [],
    loadBalancerIPs: [],
    sessionAffinity: { type: 'None' },
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 0,
    endpoints: [],
    ...extra,
  };
}

export function table(...entries: ServicePortEntry[]): ServiceTable {
  return { services: new Map(entries.map((e) => [e.key, e])), nodeName: 'node-a', nodes: new Map() };
}
