// Removes every `resolved` field from package-lock.json, so the lockfile
// names no registry host. `npm ci` then resolves each package by name and
// version from whatever registry the machine is configured for, and still
// checks it against the lockfile's `integrity` hash.
//
// Run after `npm install`: node strip-resolved.mjs [path/to/package-lock.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const path = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'package-lock.json');
const lock = JSON.parse(readFileSync(path, 'utf8'));
let removed = 0;
for (const section of [lock.packages ?? {}, lock.dependencies ?? {}]) {
  for (const entry of Object.values(section)) {
    if (entry && typeof entry === 'object' && 'resolved' in entry) {
      delete entry.resolved;
      removed += 1;
    }
  }
}
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`strip-resolved: removed ${removed} resolved field(s) from ${path}`);
