// What changed between two tables, by service-port key. Backends use it for partial
// syncs; the proxier uses it to decide whether a sync has anything to do.
import { isDeepStrictEqual } from 'node:util';
import type { ServiceTable, TableDiff } from './types.js';

export function diffTables(prev: ServiceTable | undefined, next: ServiceTable): TableDiff {
  const added: string[] = [];
  const updated: string[] = [];
  const removed: string[] = [];
  const before = prev?.services ?? new Map();
  for (const [key, svc] of next.services) {
    const old = before.get(key);
    if (old === undefined) added.push(key);
    else if (!isDeepStrictEqual(old, svc)) updated.push(key);
  }
  for (const key of before.keys()) if (!next.services.has(key)) removed.push(key);
  return { added: added.sort(), updated: updated.sort(), removed: removed.sort() };
}

export function isEmptyDiff(d: TableDiff): boolean {
  return d.added.length === 0 && d.updated.length === 0 && d.removed.length === 0;
}
