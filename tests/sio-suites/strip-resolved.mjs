// Removes every `resolved` field from a package-lock.json, at any depth
// (lockfile v2 keeps a nested legacy `dependencies` tree too), so the
// vendored lock files name no registry host. `npm ci` then fetches each
// package by name and version from the machine's configured registry and
// still checks it against the lock file's `integrity` hash.
//
//   node tests/sio-suites/strip-resolved.mjs path/to/package-lock.json...
import { readFileSync, writeFileSync } from 'node:fs';

function strip(value) {
  let removed = 0;
  if (Array.isArray(value)) {
    for (const v of value) removed += strip(v);
  } else if (value && typeof value === 'object') {
    if (typeof value.resolved === 'string' && typeof value.version === 'string') {
      delete value.resolved;
      removed += 1;
    }
    for (const v of Object.values(value)) removed += strip(v);
  }
  return removed;
}

for (const path of process.argv.slice(2)) {
  const lock = JSON.parse(readFileSync(path, 'utf8'));
  const removed = strip(lock);
  writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
  console.log(`strip-resolved: removed ${removed} resolved field(s) from ${path}`);
}
