import type { Endpoint, ServicePortEntry, ServiceTable } from '../../../src/model/types.js';
import { endpoint as ep, servicePort, serviceTable } from '../../fixtures/service-table.js';

export function endpoint(ip: string, port: number, extra: Partial<Endpoint> = {}): Endpoint {
  return ep(ip, port, extra);
}

export function entry(ns: string, name: string, port: string, vip: string, svcPort: number, endpoints: Endpoint[], extra: Partial<ServicePortEntry> = {}): ServicePortEntry {
  return servicePort({ namespace: ns, name, port }, { clusterIPs: [vip], port: svcPort, endpoints, ...extra });
}

export function table(...entries: ServicePortEntry[]): ServiceTable {
  return serviceTable(entries);
}
