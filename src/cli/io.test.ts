// What the CLI prints of text that stations and users sent: control characters never reach the
// terminal, and tables line up on what is printed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable, printTable } from './io.js';

test('control characters are shown as U+FFFD, everything else as it is', () => {
  assert.equal(
    printable('disk \u001b]0;owned\u0007 failed\r\n'),
    'disk \ufffd]0;owned\ufffd failed\ufffd\ufffd',
  );
  assert.equal(printable('\u009b2J\u007f'), '\ufffd2J\ufffd');
  assert.equal(printable('Lüfter ausgefallen — 温度 ✓'), 'Lüfter ausgefallen — 温度 ✓');
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
