import { describe, expect, it } from 'vitest';
import { diffTables, isEmptyDiff } from '../../src/model/diff.js';
import type { ServicePortEntry, ServiceTable } from '../../src/model/types.js';
import { endpoint, servicePort } from '../fixtures/service-table.js';

function entry(key: string, endpoints: string[]): ServicePortEntry {
  return { ...servicePort({ name: key }, { clusterIPs: ['198.19.1.1'], endpoints: endpoints.map((ip) => endpoint(ip)) }), key };
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
