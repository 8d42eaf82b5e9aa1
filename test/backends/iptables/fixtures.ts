import type { Endpoint, ServicePortEntry, ServiceTable } from '../../../src/model/types.js';
import { servicePortKey } from '../../../src/model/service-port-name.js';

export function endpoint(ip: string, port: number, extra: Partial<Endpoint> = {}): Endpoint {
  return { ip, port, ready: true, serving: true, terminating: false, nodeName: 'node-a', ...extra };
}

export function entry(ns: string, name: string, port: string, vip: string, svcPort: number, endpoints: Endpoint[], extra: Partial<ServicePortEntry> = {}): ServicePortEntry {
  const spn = { namespace: ns, name, port, protocol: extra.protocol ?? ('TCP' as const) };
  return {
    key: servicePortKey(spn),
    name: spn,
    clusterIPs: [vip],
    port: svcPort,
    protocol: spn.protocol,
    nodePort: 0,
    externalIPs: [],
    loadBalancerIPs: [],
    sessionAffinity: { type: 'None' },
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 0,
    endpoints,
    ...extra,
  };
}

export function table(...entries: ServicePortEntry[]): ServiceTable {
  return { services: new Map(entries.map((e) => [e.key, e])), nodeName: 'node-a', nodes: new Map() };
}
