// Prints the suite's closing line in the plain form CI reads: "tests: N passed, N failed, N skipped",
// summed over one or more vitest JSON reports (make test runs vitest twice).
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
let total = 0;
// The failures are named above the closing line: CI keeps only the tail of a long log.
const failures = [];
for (const file of files.length ? files : ['.vitest-results.json']) {
  let r;
  try {
    r = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.log(`(no results in ${file}: ${e.message})`);
    failed++;
    continue;
  }
  for (const f of r.testResults ?? []) {
    const tests = (f.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of tests) failures.push(`${f.name} > ${a.fullName}: ${firstLine((a.failureMessages ?? [])[0])}`);
    // A file whose setup (beforeAll) failed fails no single test but must fail the run.
    if (f.status === 'failed' && tests.length === 0) {
      failures.push(`${f.name}: ${firstLine(f.message)}`);
      failed++;
    }
  }
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  total += r.numTotalTests;
}
for (const line of failures) console.log(`FAILED ${line}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || total === 0 ? 1 : 0);

function firstLine(message) {
  return String(message ?? '').split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 300) ?? '';
}
