import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LifelineError, errorCodes, isErrorCode, toLifelineError, type ErrorCode } from './errors.js';

const docPath = new URL('../../docs/errors.md', import.meta.url);
const rowPattern = /^\| `([A-Z][A-Z0-9_]*)` \| (\d{3}) \| (.+) \|$/;

/** The code table of docs/errors.md: every line that looks like a row of it. */
function documentedCodes(): Map<string, { status: number; meaning: string }> {
  const rows = new Map<string, { status: number; meaning: string }>();
  for (const line of readFileSync(docPath, 'utf8').split('\n')) {
    // Any table row that starts with a code must be a well-formed row: no silent skips.
    if (!line.startsWith('| `')) continue;
    const match = rowPattern.exec(line);
    assert.ok(match, `malformed row in docs/errors.md: ${line}`);
    const [, code = '', status = '', meaning = ''] = match;
    assert.ok(!rows.has(code), `${code} is listed twice in docs/errors.md`);
    rows.set(code, { status: Number(status), meaning: meaning.trim() });
  }
  return rows;
}

test('docs/errors.md lists every error code with its HTTP status, and nothing else', () => {
  const documented = documentedCodes();
  const codes = Object.keys(errorCodes) as ErrorCode[];
  // One comparison that shows every difference at once.
  assert.deepEqual(
    {
      missingFromDoc: codes.filter((code) => !documented.has(code)),
      notInErrorsTs: [...documented.keys()].filter((code) => !isErrorCode(code)),
      wrongStatus: codes
        .filter((code) => documented.has(code) && documented.get(code)?.status !== errorCodes[code])
        .map((code) => `${code}: doc ${documented.get(code)?.status}, code ${errorCodes[code]}`),
      noMeaning: codes.filter((code) => (documented.get(code)?.meaning.length ?? 99) < 10),
    },
    { missingFromDoc: [], notInErrorsTs: [], wrongStatus: [], noMeaning: [] },
  );
  assert.equal(documented.size, codes.length);
});

test('codes are upper case by area and map to 4xx or 5xx', () => {
  for (const [code, status] of Object.entries(errorCodes)) {
    assert.match(code, /^[A-Z]+(_[A-Z0-9]+)*$/);
    assert.ok(status >= 400 && status <= 599, `${code}: ${status}`);
  }
});

test('a LifelineError carries its code, status, cause, and serializes without a stack', () => {
  const cause = new Error('disk full');
  const err = new LifelineError('STORE_FAILED', 'cannot write the database', { cause });
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'LifelineError');
  assert.equal(err.code, 'STORE_FAILED');
  assert.equal(err.httpStatus, 500);
  assert.equal(err.cause, cause);
  assert.deepEqual(err.toJSON(), { code: 'STORE_FAILED', message: 'cannot write the database' });
  assert.deepEqual(JSON.parse(JSON.stringify(err)), {
    code: 'STORE_FAILED',
    message: 'cannot write the database',
  });
  for (const [code, status] of Object.entries(errorCodes)) {
    assert.equal(new LifelineError(code as ErrorCode, 'm').httpStatus, status);
  }
});

test('toLifelineError keeps a LifelineError as it is', () => {
  const err = new LifelineError('TICKET_REPLAYED', 'used before');
  assert.equal(toLifelineError(err), err);
});

test('toLifelineError turns anything else into INTERNAL with the original as cause', () => {
  const secret = new Error('password=hunter2 in a stack trace');
  const odd: unknown[] = [
    secret,
    new TypeError('x is undefined'),
    'a string',
    42,
    null,
    undefined,
    { code: 'X' },
  ];
  for (const thrown of odd) {
    const err = toLifelineError(thrown);
    assert.ok(err instanceof LifelineError);
    assert.equal(err.code, 'INTERNAL');
    assert.equal(err.httpStatus, 500);
    assert.equal(err.cause, thrown);
    // The original message never reaches the client.
    assert.deepEqual(err.toJSON(), { code: 'INTERNAL', message: 'internal error' });
  }
});

test('toLifelineError does not trust a foreign error that looks like ours', () => {
  const lookalike = Object.assign(new Error('looks like a ticket error'), { code: 'TICKET_INVALID' });
  assert.equal(toLifelineError(lookalike).code, 'INTERNAL');
});

test('isErrorCode accepts the codes and nothing else', () => {
  for (const code of Object.keys(errorCodes)) assert.ok(isErrorCode(code), code);
  for (const value of [
    '',
    'internal',
    'NOPE',
    'toString',
    '__proto__',
    'hasOwnProperty',
    400,
    null,
    undefined,
  ]) {
    assert.equal(isErrorCode(value), false, String(value));
  }
});
