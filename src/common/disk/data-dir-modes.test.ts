// Private files and directories: created 0600/0700 whatever the umask, an overwritten file loses its
// looser mode, a loose data directory is tightened and said so, and the start-time check names
// every loose path with its fix.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeLooseModes, findLooseModes } from './data-dir-modes.js';
import {
  createPrivateFile,
  ensurePrivateDirectory,
  formatMode,
  replaceFile,
  writePrivateFile,
} from './files.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-modes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `work` with a umask that takes nothing away, as a careless service manager might set. */
function withOpenUmask(work: () => void): void {
  const before = process.umask(0);
  try {
    work();
  } finally {
    process.umask(before);
  }
}

test('files are written 0600 and directories made 0700 under umask 000, over looser files too', (t) => {
  const dir = tempDir(t);
  withOpenUmask(() => {
    writePrivateFile(join(dir, 'key.pem'), 'secret');
    writeFileSync(join(dir, 'token'), 'old', { mode: 0o666 });
    writePrivateFile(join(dir, 'token'), 'new', true);
    writeFileSync(join(dir, 'state.json'), '{}', { mode: 0o644 });
    replaceFile(join(dir, 'state.json'), '{"a":1}');
    assert.equal(createPrivateFile(join(dir, 'hub.db')), true);
    assert.equal(createPrivateFile(join(dir, 'hub.db')), false);
    assert.equal(ensurePrivateDirectory(join(dir, 'a', 'b')), undefined);
  });
  for (const name of ['key.pem', 'token', 'state.json', 'hub.db'])
    assert.equal(modeOf(join(dir, name)), 0o600, name);
  assert.equal(modeOf(join(dir, 'a')), 0o700);
  assert.equal(modeOf(join(dir, 'a', 'b')), 0o700);
  assert.throws(() => writePrivateFile(join(dir, 'key.pem'), 'other'), { code: 'EEXIST' });
});

test('a directory made with mkdir -m 755 is tightened to 0700, and its old mode returned', (t) => {
  const dir = join(tempDir(t), 'data');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  assert.equal(ensurePrivateDirectory(dir), 0o755);
  assert.equal(modeOf(dir), 0o700);
  assert.equal(ensurePrivateDirectory(dir), undefined);
  assert.equal(formatMode(0o755), '0755');
  assert.equal(formatMode(0o7), '0007');
});

test('the start-time check names each loose file and directory, with its mode and fix', (t) => {
  const dir = join(tempDir(t), 'hub data');
  mkdirSync(join(dir, 'attachments', 'ST-1'), { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'hub.db'), '', { mode: 0o644 });
  chmodSync(join(dir, 'hub.db'), 0o644);
  writeFileSync(join(dir, 'ca-key.pem'), '', { mode: 0o600 });
  writeFileSync(join(dir, 'attachments', 'ST-1', 'x'), '', { mode: 0o600 });
  chmodSync(join(dir, 'attachments', 'ST-1', 'x'), 0o640);
  // A link is not followed: what it points at is not the data directory's.
  symlinkSync('/etc/passwd', join(dir, 'link'));
  const report = findLooseModes(dir);
  assert.deepEqual(
    report.loose.map((entry) => [entry.path, entry.kind, formatMode(entry.mode), entry.fix]),
    [
      [dir, 'directory', '0755', `chmod 700 '${dir}'`],
      [join(dir, 'hub.db'), 'file', '0644', `chmod 600 '${join(dir, 'hub.db')}'`],
      [
        join(dir, 'attachments', 'ST-1', 'x'),
        'file',
        '0640',
        `chmod 600 '${join(dir, 'attachments', 'ST-1', 'x')}'`,
      ],
    ],
  );
  assert.equal(report.unlisted, 0);
  assert.deepEqual(describeLooseModes(report).slice(0, 2), [
    `${dir} is 0755: other local users have access to it (Lifeline makes it 0700); fix: chmod 700 '${dir}'`,
    `${join(dir, 'hub.db')} is 0644: other local users have access to it (Lifeline makes it 0600); fix: chmod 600 '${join(dir, 'hub.db')}'`,
  ]);
});

test('past the listed number the rest is counted, with one command that fixes everything', (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}`), '', { mode: 0o600 });
  for (let i = 0; i < 5; i++) chmodSync(join(dir, `f${i}`), 0o604);
  const report = findLooseModes(dir, { maxReported: 2 });
  assert.equal(report.loose.length, 2);
  assert.equal(report.unlisted, 3);
  assert.equal(
    describeLooseModes(report).at(-1),
    `3 more file(s) or directories like these; fix them all: chmod -R go-rwx ${dir}`,
  );
  chmodSync(dir, 0o700);
  for (let i = 0; i < 5; i++) chmodSync(join(dir, `f${i}`), 0o600);
  assert.deepEqual(findLooseModes(dir), { loose: [], unlisted: 0, fixAll: `chmod -R go-rwx ${dir}` });
});
