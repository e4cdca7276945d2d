// The terminal-safe forms of text from elsewhere: nothing that acts on a terminal is left raw, and
// the JSON form parses back to the original text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeJsonControls, printable, stringifyPrintable } from './printable.js';

// Everything a hostile value may carry: screen clear, window title (OSC 0), clipboard write (OSC 52),
// 8-bit CSI, BEL, DEL, a bidi override and isolate, a line separator, CR LF and TAB.
const hostile =
  '\u001b[2J\u001b]0;owned\u0007\u001b]52;c;cHduZWQ=\u0007\u009b31m\u0007\u007f\u202eevil\u2066x\u2069\u2028\r\n\t';
// eslint-disable-next-line no-control-regex
const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
// Code units near the unsafe ranges come up often, so the property sees them; any other too.
const textArb = fc.string({
  unit: fc.oneof(
    codeUnit,
    fc.integer({ min: 0, max: 0xa0 }).map((n) => String.fromCharCode(n)),
    fc.integer({ min: 0x2020, max: 0x2070 }).map((n) => String.fromCharCode(n)),
  ),
  maxLength: 64,
});

test('printable shows every control, line separator and bidi control as U+FFFD', () => {
  assert.equal(
    printable(hostile),
    '\ufffd[2J\ufffd]0;owned\ufffd\ufffd]52;c;cHduZWQ=\ufffd\ufffd31m\ufffd\ufffd\ufffdevil\ufffdx\ufffd\ufffd\ufffd\ufffd\ufffd',
  );
  assert.equal(printable('disk \u001b]0;owned\u0007 failed'), 'disk \ufffd]0;owned\ufffd failed');
});

test('printable keeps letters of every script, right-to-left ones and their marks included', () => {
  for (const text of [
    'Lüfter ausgefallen — 温度 ✓',
    'שלום עולם',
    'مرحبا\u061c',
    'a\u200eb\u200fc',
    '🙂 ok',
  ]) {
    assert.equal(printable(text), text);
  }
});

test('stringifyPrintable writes DEL, C1, separators and bidi controls as escapes JSON parses back', () => {
  const value = { hostName: hostile, list: [hostile], n: 1 };
  const json = stringifyPrintable(value, 2);
  // The line breaks are the indentation's own.
  assert.doesNotMatch(json.replaceAll('\n', ''), unsafe);
  assert.match(json, /\\u009b31m\\u0007\\u007f\\u202eevil\\u2066x\\u2069\\u2028/);
  assert.deepEqual(JSON.parse(json), value);
  assert.equal(stringifyPrintable(undefined), 'null');
});

test('escapeJsonControls only touches the characters JSON.stringify leaves raw', () => {
  const json = JSON.stringify({ a: 'é\u0085' });
  assert.equal(escapeJsonControls(json), '{"a":"é\\u0085"}');
});

test('for any text: printable leaves nothing unsafe, and the JSON form has nothing unsafe and parses back', () => {
  fc.assert(
    fc.property(textArb, (text) => {
      assert.doesNotMatch(printable(text), unsafe);
      assert.equal(printable(text).length, text.length);
      const json = stringifyPrintable({ text });
      assert.doesNotMatch(json, unsafe);
      assert.equal((JSON.parse(json) as { text: string }).text, text);
    }),
    { numRuns: 5000, interruptAfterTimeLimit: 4000 },
  );
});
