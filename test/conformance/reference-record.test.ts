// The recorded kube-proxy/ipvs column (reference-record.ts): merging runs, and the committed
// record against the suite of now.
import { describe, expect, it } from 'vitest';
import { BACKENDS } from './backends.js';
import { CASES } from './cases/index.js';
import { mergeRecord, pinnedKubernetes, readRecord, recordProblems, type ReferenceRecord } from './reference-record.js';
import type { CaseResult } from './results.js';

const result = (id: string, status: CaseResult['status'], reason?: string): CaseResult => ({
  case: id, title: id, backend: 'kube-proxy/ipvs', source: 'kubernetes', kernel: 'guest 6.1.0-57-amd64', status, reason, ms: 1,
});

describe('mergeRecord', () => {
  const first = mergeRecord(undefined, { kubernetes: 'v1', commit: 'aaa', date: '2026-12-01', cases: [result('b', 'pass'), result('a', 'fail', 'x')], tests: [{ file: 'd.ts', name: 't1', status: 'passed' }] }, ['a', 'b', 'c']);

  it('orders cases as the suite does and stamps each with its run', () => {
    expect(first.cases.map((c) => [c.case, c.commit])).toEqual([['a', 'aaa'], ['b', 'aaa']]);
  });

  it('a targeted run replaces only its cases; a file that ran again replaces all its tests', () => {
    const second = mergeRecord(first, { kubernetes: 'v1', commit: 'bbb', date: '2026-12-02', cases: [result('a', 'pass'), result('c', 'pass')], tests: [{ file: 'd.ts', name: 't2', status: 'passed' }] }, ['a', 'b', 'c']);
    expect(second.cases.map((c) => [c.case, c.status, c.commit])).toEqual([['a', 'pass', 'bbb'], ['b', 'pass', 'aaa'], ['c', 'pass', 'bbb']]);
    expect(second.tests.map((t) => t.name)).toEqual(['t2']);
  });

  it('drops cases the suite no longer has, and everything on a new release', () => {
    expect(mergeRecord(first, { kubernetes: 'v1', commit: 'c', date: 'd', cases: [], tests: [] }, ['b']).cases.map((c) => c.case)).toEqual(['b']);
    expect(mergeRecord(first, { kubernetes: 'v2', commit: 'c', date: 'd', cases: [], tests: [] }, ['a', 'b']).cases).toEqual([]);
  });
});

describe('recordProblems', () => {
  const rec: ReferenceRecord = mergeRecord(undefined, { kubernetes: 'v1', commit: 'aaa', date: 'd', cases: [result('a', 'pass'), result('b', 'skip', 'r'), result('c', 'fail', 'boom')], tests: [{ file: 'd.ts', name: 't', status: 'failed' }] }, ['a', 'b', 'c']);

  it('names a missing case, a failed one, a skip without a reason, a failed test and another release', () => {
    const p = recordProblems(rec, ['a', 'b', 'c', 'new'], {}, 'v2');
    expect(p).toHaveLength(5);
    expect(p.join('\n')).toMatch(/Kubernetes v1, pinned now v2/);
    expect(p.join('\n')).toMatch(/^b: skipped on aaa/m);
    expect(p.join('\n')).toMatch(/^c: failed on aaa/m);
    expect(p.join('\n')).toMatch(/^new: not in the record/m);
    expect(p.join('\n')).toMatch(/d\.ts › t: failed/);
  });

  it('a skip with the reason backends.ts gives is fine', () => {
    expect(recordProblems(rec, ['a', 'b'], { b: 'r' }, 'v1').filter((x) => x.startsWith('b:'))).toEqual([]);
  });
});

describe('the committed kube-proxy/ipvs record', () => {
  it('covers every case of the suite (passed, or skipped with its reason) and its differential passed, on the pinned release', () => {
    const rec = readRecord();
    expect(recordProblems(rec, CASES.map((c) => c.id), BACKENDS['kube-proxy/ipvs']!.unsupported, pinnedKubernetes())).toEqual([]);
    expect(rec.tests.filter((t) => t.status === 'passed').length).toBeGreaterThan(0);
  });
});
