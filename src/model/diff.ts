// The changes between two whole tables, by service-port key. The proxier does not need it
// (the change tracker records changes as events arrive); `render`, tests and backends given
// a bare table use it.
import { isDeepStrictEqual } from 'node:util';
import type { ServicePortChange, ServiceTable } from './types.js';

export function changesBetween(prev: ServiceTable | undefined, next: ServiceTable): ServicePortChange[] {
  const out: ServicePortChange[] = [];
  const before = prev?.services ?? new Map();
  for (const [key, current] of next.services) {
    const previous = before.get(key);
    if (previous === undefined) out.push({ key, current });
    else if (previous !== current && !isDeepStrictEqual(previous, current)) out.push({ key, previous, current });
  }
  for (const [key, previous] of before) if (!next.services.has(key)) out.push({ key, previous });
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Keys of the changes, split the way logs and the iptables planner count them. */
export function summarize(changes: readonly ServicePortChange[]): { added: number; updated: number; removed: number } {
  let added = 0;
  let updated = 0;
  let removed = 0;
  for (const c of changes) {
    if (!c.previous) added++;
    else if (!c.current) removed++;
    else updated++;
  }
  return { added, updated, removed };
}
