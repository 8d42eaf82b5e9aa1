// The kube-proxy/ipvs reference column as a record: the guest runs it (and the IPVS
// differential) only on request, because with it a cold CI would pass its 60 min (see
// guest-kernel.test.ts for the times). `make conformance BACKEND=kube-proxy-ipvs` merges
// what the guest just ran into test/conformance/recorded/kube-proxy-ipvs.json, one entry
// per case with the commit and date it ran at; the matrix shows that column from the
// record, and reference-record.test.ts checks in every CI that it covers every case of
// the suite, passed or has its reason, and was made with the pinned Kubernetes release.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CaseResult } from './results.js';

export const RECORD_FILE = fileURLToPath(new URL('./recorded/kube-proxy-ipvs.json', import.meta.url));
export const RECORDED_BACKEND = 'kube-proxy/ipvs';

export interface RecordedCase extends CaseResult {
  commit: string;
  /** ISO date of the guest run. */
  date: string;
}

/** One test of a file the guest ran beside the column (the IPVS differential). */
export interface RecordedTest {
  file: string;
  name: string;
  status: string;
  commit: string;
  date: string;
}

export interface ReferenceRecord {
  backend: string;
  /** The Kubernetes release kube-proxy was built from (scripts/cluster/build.sh K8S_RELEASE). */
  kubernetes: string;
  cases: RecordedCase[];
  tests: RecordedTest[];
}

export function readRecord(file = RECORD_FILE): ReferenceRecord {
  return JSON.parse(readFileSync(file, 'utf8')) as ReferenceRecord;
}

/** The pinned release, read where the build script pins it. */
export function pinnedKubernetes(): string {
  const text = readFileSync(fileURLToPath(new URL('../../scripts/cluster/build.sh', import.meta.url)), 'utf8');
  const m = /^K8S_RELEASE=(\S+)/m.exec(text);
  if (!m) throw new Error('scripts/cluster/build.sh: no K8S_RELEASE= line');
  return m[1]!;
}

/** A new run replaces the entries it has (cases by id, tests by file and name) and keeps the
 * others, so a targeted run (`-t`) records only its cases. A new release starts over. */
export function mergeRecord(
  old: ReferenceRecord | undefined,
  run: { kubernetes: string; commit: string; date: string; cases: CaseResult[]; tests: Array<Omit<RecordedTest, 'commit' | 'date'>> },
  caseOrder: string[],
): ReferenceRecord {
  const keep = old && old.kubernetes === run.kubernetes ? old : undefined;
  const cases = new Map((keep?.cases ?? []).map((c) => [c.case, c]));
  for (const c of run.cases) cases.set(c.case, { ...c, commit: run.commit, date: run.date });
  const rank = (id: string) => caseOrder.indexOf(id);
  const testKey = (t: { file: string; name: string }) => `${t.file}\u0000${t.name}`;
  const tests = new Map((keep?.tests ?? []).map((t) => [testKey(t), t]));
  const ranFiles = new Set(run.tests.map((t) => t.file));
  // A file that ran again replaces all its tests (a test renamed or removed goes away).
  for (const [k, t] of tests) if (ranFiles.has(t.file)) tests.delete(k);
  for (const t of run.tests) tests.set(testKey(t), { ...t, commit: run.commit, date: run.date });
  return {
    backend: RECORDED_BACKEND,
    kubernetes: run.kubernetes,
    // A case the suite no longer has leaves the record.
    cases: [...cases.values()].filter((c) => caseOrder.includes(c.case)).sort((a, b) => rank(a.case) - rank(b.case)),
    tests: [...tests.values()].sort((a, b) => (testKey(a) < testKey(b) ? -1 : 1)),
  };
}

/** What is wrong with the record against the suite of now: a case missing or not passed
 * without the reason backends.ts gives, a test of the differential failed. Empty when it is
 * complete. */
export function recordProblems(rec: ReferenceRecord, caseIds: string[], unsupported: Record<string, string>, kubernetes: string): string[] {
  const problems: string[] = [];
  if (rec.kubernetes !== kubernetes) problems.push(`recorded with Kubernetes ${rec.kubernetes}, pinned now ${kubernetes}: run make conformance BACKEND=kube-proxy-ipvs`);
  for (const id of caseIds) {
    const c = rec.cases.find((x) => x.case === id);
    if (!c) problems.push(`${id}: not in the record (newer than its runs): run make conformance BACKEND=kube-proxy-ipvs`);
    else if (c.status === 'fail') problems.push(`${id}: failed on ${c.commit} (${c.date}): ${c.reason ?? ''}`);
    else if (c.status === 'skip' && !unsupported[id]) problems.push(`${id}: skipped on ${c.commit} but backends.ts gives no reason now`);
  }
  for (const c of rec.cases) if (!caseIds.includes(c.case)) problems.push(`${c.case}: recorded but no longer in the suite`);
  for (const t of rec.tests) if (t.status !== 'passed' && t.status !== 'skipped') problems.push(`${t.file} › ${t.name}: ${t.status} on ${t.commit}`);
  return problems;
}
