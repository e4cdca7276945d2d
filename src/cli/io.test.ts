// What the CLI prints of text that stations and users sent: control characters never reach the
// terminal, the CLI's own line breaks do, tables line up on what is printed, and JSON keeps the text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printJson, printTable, tty } from './io.js';

const hostile = '\u001b[2J\u001b]0;owned\u0007\u009b31m\u007f\u202eevil\r\nfake line';

test('tty makes every interpolated value printable and keeps its own literal text', () => {
  assert.equal(
    tty`\nStation ${hostile} has ${3} problems`,
    '\nStation \ufffd[2J\ufffd]0;owned\ufffd\ufffd31m\ufffd\ufffdevil\ufffd\ufffdfake line has 3 problems',
  );
  assert.equal(tty`${'disk \u001b]0;owned\u0007 failed'}`, 'disk \ufffd]0;owned\ufffd failed');
});

test('a table prints its cells made printable, in columns as wide as what is printed', (t) => {
  const lines: string[] = [];
  t.mock.method(console, 'log', (line: string) => lines.push(line));
  printTable(
    [
      { id: 'P-1', summary: '\u001b[2Jwiped' },
      { id: 'P-22', summary: 'ok' },
    ],
    ['id', 'summary'],
  );
  assert.deepEqual(lines, ['ID    SUMMARY', 'P-1   \ufffd[2Jwiped', 'P-22  ok']);
});

test('JSON output escapes every control character and parses back to the original text', (t) => {
  const lines: string[] = [];
  t.mock.method(console, 'log', (line: string) => lines.push(line));
  printJson({ name: hostile });
  const [json = ''] = lines;
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(json, /[\u001b\u0007\u007f-\u009f\u202e\r]/);
  assert.deepEqual(JSON.parse(json), { name: hostile });
});
