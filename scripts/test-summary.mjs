// Prints the suite's closing line in the plain form CI reads: "tests: N passed, N failed, N skipped",
// summed over one or more vitest JSON reports (make test runs vitest twice).
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
let total = 0;
for (const file of files.length ? files : ['.vitest-results.json']) {
  let r;
  try {
    r = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.log(`(no results in ${file}: ${e.message})`);
    failed++;
    continue;
  }
  // A file whose setup (beforeAll) failed fails no single test but must fail the run.
  const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
  passed += r.numPassedTests;
  failed += r.numFailedTests + brokenFiles;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  total += r.numTotalTests;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || total === 0 ? 1 : 0);
