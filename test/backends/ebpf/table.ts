// Small ServiceTable builders for the pure render/diff tests (defaults: port 9376 endpoints on node-a).
import type { Endpoint, ServicePortEntry, ServiceTable } from '../../../src/model/types.js';
import { endpoint, servicePort, serviceTable } from '../../fixtures/service-table.js';

export function ep(ip: string, extra: Partial<Endpoint> = {}): Endpoint {
  return endpoint(ip, 9376, extra);
}

export function svc(name: string, extra: Partial<ServicePortEntry> = {}): ServicePortEntry {
  return servicePort({ name }, extra);
}

export function table(...entries: ServicePortEntry[]): ServiceTable {
  return serviceTable(entries);
}
