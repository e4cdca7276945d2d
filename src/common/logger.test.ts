// Log lines carry text from stations and technicians: nothing in them may act on a terminal, and
// each line is still JSON that gives the original text back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from './logger.js';

test('a log line escapes C0, DEL, C1 and bidi controls and parses back to the original text', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  const fd = openSync(path, 'w');
  const hostName = '\u001b]0;owned\u0007\u009b2J\u007f\u202eevil\u2028';
  const logger = createLogger({ name: 'test', destination: fd });
  logger.info({ hostName }, `inventory from ${hostName}`);
  // The destination writes asynchronously: wait (bounded) for the line to land.
  const deadline = Date.now() + 5000;
  while (!readFileSync(path, 'utf8').endsWith('\n') && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
  closeSync(fd);
  const line = readFileSync(path, 'utf8').trimEnd();
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u202e]/);
  const parsed = JSON.parse(line) as { hostName: string; msg: string };
  assert.equal(parsed.hostName, hostName);
  assert.equal(parsed.msg, `inventory from ${hostName}`);
});
