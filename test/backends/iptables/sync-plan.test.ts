// Partial syncs without a kernel: what each restore input rewrites.
import { describe, expect, it } from 'vitest';
import { FamilySyncState } from '../../../src/backends/iptables/sync-plan.js';
import { endpointChain, servicePortChain } from '../../../src/backends/iptables/chain-names.js';
import type { ServicePortEntry } from '../../../src/model/types.js';
import { endpoint, entry, table } from './fixtures.js';

const NONE: ReadonlySet<string> = new Set();
const a = entry('ns', 'a', '', '198.19.1.1', 80, [endpoint('198.18.1.2', 80), endpoint('198.18.1.3', 80)]);
const b = entry('ns', 'b', '', '198.19.1.2', 80, [endpoint('198.18.1.4', 80)]);
const a2 = { ...a, endpoints: [endpoint('198.18.1.3', 80), endpoint('198.18.1.9', 80)] };
const sep = (s: ServicePortEntry, hp: string) => endpointChain(s.name, hp);
const svc = (s: ServicePortEntry) => servicePortChain('KUBE-SVC-', s.name);

function applied(state: FamilySyncState, svcs: ServicePortEntry[], changed = NONE, full = false) {
  const plan = state.plan({ table: table(...svcs), changed, full });
  state.commit(plan);
  return plan;
}

describe('FamilySyncState (partial syncs)', () => {
  it('first sync is full, declares the canary, deletes leftovers from an earlier run', () => {
    const st = new FamilySyncState({ family: 4 });
    const plan = st.plan({ table: table(a, b), changed: NONE, full: false, existingChains: ['KUBE-SVC-OLDOLDOLDOLDOLDO', svc(a), 'DOCKER'] });
    expect(plan.full).toBe(true);
    expect(plan.text).toContain('*mangle\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT');
    expect(plan.nat).toContain(':KUBE-PROXY-CANARY - [0:0]');
    expect(plan.stale).toEqual(['KUBE-SVC-OLDOLDOLDOLDOLDO']);
    expect(plan.nat).toContain('-X KUBE-SVC-OLDOLDOLDOLDOLDO');
    expect(plan.nat).not.toContain('DOCKER');
  });

  it('a partial sync rewrites shared chains and only the changed service, deleting its stale SEP', () => {
    const st = new FamilySyncState({ family: 4 });
    applied(st, [a, b], NONE, true);
    const plan = st.plan({ table: table(a2, b), changed: new Set([a.key]), full: false });
    expect(plan.full).toBe(false);
    expect(plan.rewritten).toEqual([a.key]);
    expect(plan.stale).toEqual([sep(a, '198.18.1.2:80')]);
    // Shared chains whole (b's dispatch rule included); b's own chains untouched.
    expect(plan.nat).toContain(`-A KUBE-SERVICES -m comment --comment "ns/b cluster IP"`);
    expect(plan.nat).not.toContain(`:${svc(b)} `);
    expect(plan.nat).not.toContain(`-A ${svc(b)} `);
    expect(plan.nat).toContain(`:${sep(a, '198.18.1.9:80')} - [0:0]`);
    expect(plan.nat).toContain(`-X ${sep(a, '198.18.1.2:80')}`);
    expect(plan.text).not.toContain('*mangle');
  });

  it('removing a service deletes all its chains; an empty diff rewrites only shared chains', () => {
    const st = new FamilySyncState({ family: 4 });
    applied(st, [a, b], NONE, true);
    const plan = st.plan({ table: table(b), changed: new Set([a.key]), full: false });
    expect(plan.stale.sort()).toEqual([svc(a), sep(a, '198.18.1.2:80'), sep(a, '198.18.1.3:80')].sort());
    expect(plan.nat).not.toContain('ns/a cluster IP');
    st.commit(plan);
    const idle = st.plan({ table: table(b), changed: NONE, full: false });
    expect(idle.chainsWritten).toBe(0);
    expect(idle.nat).toContain('ns/b cluster IP');
  });

  it('notices services the diff did not mention (cache and table disagree)', () => {
    const st = new FamilySyncState({ family: 4 });
    applied(st, [a], NONE, true);
    const plan = st.plan({ table: table(a, b), changed: NONE, full: false });
    expect(plan.rewritten).toEqual([b.key]);
  });

  it('after a failed restore (invalidate) the next sync is full', () => {
    const st = new FamilySyncState({ family: 4 });
    applied(st, [a], NONE, true);
    st.invalidate();
    const plan = st.plan({ table: table(a2), changed: new Set([a.key]), full: false });
    expect(plan.full).toBe(true);
    expect(plan.reason).toMatch(/failed restore/);
  });

  it('switching into large cluster mode forces a full sync (every SEP loses its comment)', () => {
    const st = new FamilySyncState({ family: 4 });
    applied(st, [a], NONE, true);
    const big = Array.from({ length: 11 }, (_, i) =>
      entry('ns', `big${i}`, '', `198.19.2.${i}`, 80, Array.from({ length: 100 }, (_, j) => endpoint(`198.18.${10 + i}.${j + 1}`, 80))),
    );
    const plan = st.plan({ table: table(a, ...big), changed: new Set(big.map((s) => s.key)), full: false });
    expect(plan.full).toBe(true);
    expect(plan.reason).toBe('large cluster mode changed');
  });
});
