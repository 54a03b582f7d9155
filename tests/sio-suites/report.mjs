// Summarises one mocha JSON report (written by scripts/sio-suites.sh):
// one line per test, then "<label>: X/<expected> passed".
//
//   node tests/sio-suites/report.mjs <report.json> <label> <expected-total>
//
// Tests missing from the report (mocha crashed or was killed) count as
// failures, so the denominator is always the suite's known size. Exits 0
// when every test passed, 1 otherwise.
import { readFileSync } from 'node:fs';

const [path, label, expectedArg] = process.argv.slice(2);
const expected = Number(expectedArg);
if (!path || !label || !Number.isInteger(expected)) {
  console.error('usage: node report.mjs <report.json> <label> <expected-total>');
  process.exit(2);
}

let report;
try {
  report = JSON.parse(readFileSync(path, 'utf8'));
} catch (e) {
  console.log(`${label}: no report (${e.message})`);
  console.log(`${label}: 0/${expected} passed`);
  process.exit(1);
}

const passed = new Set((report.passes ?? []).map((t) => t.fullTitle));
const seen = new Set();
for (const t of report.tests ?? []) {
  seen.add(t.fullTitle);
  if (passed.has(t.fullTitle)) {
    console.log(`  pass  ${t.fullTitle}`);
  } else {
    const why = (t.err?.message ?? 'no result').split('\n')[0];
    console.log(`  FAIL  ${t.fullTitle}: ${why}`);
  }
}
// Hook failures ("before all" etc.) are reported as failures without a test entry.
for (const t of report.failures ?? []) {
  if (!seen.has(t.fullTitle)) console.log(`  FAIL  ${t.fullTitle}: ${(t.err?.message ?? '').split('\n')[0]}`);
}
const count = (report.tests ?? []).filter((t) => passed.has(t.fullTitle)).length;
if ((report.tests ?? []).length !== expected) {
  console.log(`  note: the report has ${(report.tests ?? []).length} tests, the suite ${expected}`);
}
console.log(`${label}: ${count}/${expected} passed`);
process.exit(count === expected ? 0 : 1);
