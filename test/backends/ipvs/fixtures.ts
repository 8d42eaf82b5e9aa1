// Tables and kernel states for the IPVS unit tests (no kernel needed).
import type { KernelState } from '../../../src/backends/ipvs/plan.js';
import type { VirtualServer } from '../../../src/backends/ipvs/types.js';
import type { ServicePortEntry, ServiceTable } from '../../../src/model/types.js';
import { serviceTable } from '../../fixtures/service-table.js';
import { endpoint, entry } from '../iptables/fixtures.js';

export { endpoint, entry };

/** The Node object's addresses of node-a, the node these tables are for. */
export const NODE_IPS = ['198.19.200.1', '2001:db8:19:200::1'];

export function table(...entries: ServicePortEntry[]): ServiceTable {
  return serviceTable(entries, 'node-a', new Map([['node-a', { name: 'node-a', addresses: NODE_IPS, podCIDRs: ['198.18.1.0/24'] }]]));
}

/** The seed: default/hostnames 198.19.1.175:80 → three pods on 9376. */
export function seed(extra: Parameters<typeof entry>[6] = {}) {
  return entry('default', 'hostnames', '', '198.19.1.175', 80, ['198.18.1.2', '198.18.1.3', '198.18.1.4'].map((ip) => endpoint(ip, 9376)), extra);
}

export function emptyState(): KernelState {
  return { virtualServers: new Map(), bound: new Set(), otherAddresses: new Map([['198.19.200.1', 'eth0'], ['127.0.0.1', 'lo']]), sets: new Map() };
}

export function vs(ip: string, port: number, rs: Array<[string, number, number?, number?, number?]>, extra: Partial<VirtualServer> = {}): VirtualServer {
  return {
    protocol: 'TCP',
    ip,
    port,
    scheduler: 'rr',
    realServers: rs.map(([rip, rport, weight = 1, activeConn = 0, inactConn = 0]) => ({ ip: rip, port: rport, weight, activeConn, inactConn })),
    ...extra,
  };
}
