// node --test on Node 20 does not expand globs: list the test files under the given folders.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// `--skip=NAME` leaves out folders of that name (the slow suite lives in test/slow).
const skipped = new Set(
  process.argv
    .slice(2)
    .filter((arg) => arg.startsWith('--skip='))
    .map((arg) => arg.slice('--skip='.length)),
);

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!skipped.has(name)) walk(path, out);
    } else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}
const files = process.argv
  .slice(2)
  .filter((arg) => !arg.startsWith('--'))
  .flatMap((dir) => walk(dir, []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
process.stdout.write(files.join(' '));
