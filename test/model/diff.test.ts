import { describe, expect, it } from 'vitest';
import { diffTables, isEmptyDiff } from '../../src/model/diff.js';
import type { ServicePortEntry, ServiceTable } from '../../src/model/types.js';

function entry(key: string, endpoints: string[]): ServicePortEntry {
  return {
    key,
    name: { namespace: 'default', name: key, port: '', protocol: 'TCP' },
    clusterIPs: ['198.19.1.1'],
    port: 80,
    protocol: 'TCP',
    nodePort: 0,
    externalIPs: [],
    loadBalancerIPs: [],
    sessionAffinity: { type: 'None' },
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 0,
    endpoints: endpoints.map((ip) => ({ ip, port: 9376, ready: true, serving: true, terminating: false })),
  };
}
const table = (...e: ServicePortEntry[]): ServiceTable => ({ services: new Map(e.map((x) => [x.key, x])), nodeName: 'n', nodes: new Map() });

describe('diffTables', () => {
  it('reports added, updated and removed keys', () => {
    const d = diffTables(table(entry('a', ['198.18.1.2']), entry('b', [])), table(entry('a', ['198.18.1.3']), entry('c', [])));
    expect(d).toEqual({ added: ['c'], updated: ['a'], removed: ['b'] });
  });
  it('is empty for equal tables built separately', () => {
    expect(isEmptyDiff(diffTables(table(entry('a', ['198.18.1.2'])), table(entry('a', ['198.18.1.2']))))).toBe(true);
  });
  it('treats everything as added on the first sync', () => {
    expect(diffTables(undefined, table(entry('a', [])))).toEqual({ added: ['a'], updated: [], removed: [] });
  });
});
