// Prints the last line CI reads, `N passed, N failed[, N skipped]`, from vitest's JSON report,
// and exits non-zero if any test or test file failed (a file that fails to load has no tests).
import { existsSync, readFileSync } from 'node:fs';

const [report, status] = process.argv.slice(2);
if (!report || !existsSync(report)) {
  console.log('0 passed, 1 failed');
  process.exit(Number(status) || 1);
}
const r = JSON.parse(readFileSync(report, 'utf8'));
const suiteErrors = (r.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
const failed = r.numFailedTests + suiteErrors;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || Number(status) !== 0 ? 1 : 0);
