import { describe, expect, it } from 'vitest';
import { changesBetween, summarize } from '../../src/model/diff.js';
import type { ServicePortEntry, ServiceTable } from '../../src/model/types.js';
import { endpoint, servicePort } from '../fixtures/service-table.js';

function entry(key: string, endpoints: string[]): ServicePortEntry {
  return { ...servicePort({ name: key }, { clusterIPs: ['198.19.1.1'], endpoints: endpoints.map((ip) => endpoint(ip)) }), key };
}
const table = (...e: ServicePortEntry[]): ServiceTable => ({ services: new Map(e.map((x) => [x.key, x])), nodeName: 'n', nodes: new Map() });

describe('changesBetween', () => {
  it('reports added, updated and removed service ports with what they were and are', () => {
    const a1 = entry('a', ['198.18.1.2']);
    const a2 = entry('a', ['198.18.1.3']);
    const b = entry('b', []);
    const c = entry('c', []);
    const ch = changesBetween(table(a1, b), table(a2, c));
    expect(ch).toEqual([{ key: 'a', previous: a1, current: a2 }, { key: 'b', previous: b }, { key: 'c', current: c }]);
    expect(summarize(ch)).toEqual({ added: 1, updated: 1, removed: 1 });
  });
  it('is empty for equal tables built separately', () => {
    expect(changesBetween(table(entry('a', ['198.18.1.2'])), table(entry('a', ['198.18.1.2'])))).toEqual([]);
  });
  it('treats everything as added on the first sync', () => {
    const a = entry('a', []);
    expect(changesBetween(undefined, table(a))).toEqual([{ key: 'a', current: a }]);
  });
});
