// After `make conformance BACKEND=kube-proxy-ipvs`: merges the guest's kube-proxy/ipvs
// results and the IPVS differential's tests into test/conformance/recorded/kube-proxy-ipvs.json
// (see test/conformance/reference-record.ts). Refuses a run that left no results.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RECORD_FILE, mergeRecord, pinnedKubernetes, readRecord } from '../test/conformance/reference-record.js';
import { RESULTS_DIR, type CaseResult } from '../test/conformance/results.js';

const DIFFERENTIAL = 'test/backends/ipvs/kube-proxy-differential.test.ts';
const file = readdirSync(RESULTS_DIR).find((f) => /^results-kube-proxy_ipvs-.*-guest_.*\.json$/.test(f));
if (!file) {
  console.error(`record-reference: no kube-proxy/ipvs guest results in ${RESULTS_DIR}`);
  process.exit(1);
}
const cases = JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8')) as CaseResult[];
if (cases.length === 0) {
  console.error(`record-reference: ${file} has no cases`);
  process.exit(1);
}
interface VitestJson { testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string }> }> }
const vitestFile = join(RESULTS_DIR, 'guest-vitest.json');
const vitest = existsSync(vitestFile) ? (JSON.parse(readFileSync(vitestFile, 'utf8')) as VitestJson) : { testResults: [] };
const tests = vitest.testResults
  .filter((f) => f.name.endsWith(DIFFERENTIAL))
  .flatMap((f) => f.assertionResults.map((a) => ({ file: DIFFERENTIAL, name: a.fullName, status: a.status })));
const git = (args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trim();
const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
const commit = git(['rev-parse', '--short=12', 'HEAD']) + (dirty ? '+changes' : '');
// The suite's order is the results file's (the cases module imports vitest, so not from
// there). A full run lists every case of the suite, so the record keeps exactly those; a run
// of chosen cases (BPFPROXY_CASES) keeps the others as they were.
const old = existsSync(RECORD_FILE) ? readRecord() : undefined;
const ran = cases.map((c) => c.case);
const order = process.env.BPFPROXY_CASES ? [...new Set([...(old?.cases.map((c) => c.case) ?? []), ...ran])] : ran;
const rec = mergeRecord(old, { kubernetes: pinnedKubernetes(), commit, date: new Date().toISOString().slice(0, 10), cases, tests }, order);
writeFileSync(RECORD_FILE, `${JSON.stringify(rec, null, 1)}\n`);
console.log(`record-reference: ${cases.length} cases and ${tests.length} differential tests at ${commit} → ${RECORD_FILE}`);
