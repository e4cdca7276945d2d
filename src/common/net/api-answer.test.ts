// Answers as clients meet them: our { code, message }, a code from a newer peer, a body without a
// message, a proxy's HTML error page, an empty body, JSON that is not an object; and, for any body
// at all, an error that is ours, names the status when it says nothing, and never throws.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { answerError, parseAnswerBody, readAnswer, type ForeignAnswer } from './api-answer.js';
import { LifelineError, errorCodes, isErrorCode } from '../errors.js';

function expectError(
  err: LifelineError,
  expected: { code: string; message: string; cause?: ForeignAnswer | undefined },
): void {
  assert.ok(err instanceof LifelineError);
  assert.deepEqual({ code: err.code, message: err.message, cause: err.cause }, expected);
}

test("a known code: that code with the answer's message", () => {
  const body = JSON.stringify({ code: 'STATION_REVOKED', message: 'this station is revoked' });
  expectError(answerError(403, body, 'the hub'), {
    code: 'STATION_REVOKED',
    message: 'this station is revoked',
    cause: undefined,
  });
  // Extra fields (retryAfterSeconds, requestId) do not disturb it.
  const limited = { code: 'API_LIMIT_REACHED', message: 'slow down', retryAfterSeconds: 5 };
  assert.equal(answerError(429, JSON.stringify(limited)).code, 'API_LIMIT_REACHED');
});

test('a known code without a message: the message names the peer and the status', () => {
  expectError(answerError(404, '{"code":"API_NOT_FOUND"}', 'the agent'), {
    code: 'API_NOT_FOUND',
    message: 'the agent answered HTTP 404',
    cause: undefined,
  });
  expectError(answerError(404, '{"code":"API_NOT_FOUND","message":""}', 'the agent'), {
    code: 'API_NOT_FOUND',
    message: 'the agent answered HTTP 404',
    cause: undefined,
  });
});

test('a code that is not ours: INTERNAL with the remote message, the remote code kept as the cause', () => {
  const body = JSON.stringify({ code: 'FUTURE_THING', message: 'a newer hub refused this' });
  expectError(answerError(409, body, 'the hub'), {
    code: 'INTERNAL',
    message: 'a newer hub refused this',
    cause: { status: 409, code: 'FUTURE_THING' },
  });
  // Names that exist on every object are not codes.
  for (const code of ['toString', '__proto__', 'hasOwnProperty', 'internal'])
    assert.equal(answerError(400, JSON.stringify({ code, message: 'm' })).code, 'INTERNAL', code);
  // A code that is not a string is no code.
  expectError(answerError(500, '{"code":500,"message":"boom"}', 'the hub'), {
    code: 'INTERNAL',
    message: 'boom',
    cause: { status: 500 },
  });
});

test('a message without a code: INTERNAL with that message', () => {
  expectError(answerError(500, '{"message":"database locked"}', 'the hub'), {
    code: 'INTERNAL',
    message: 'database locked',
    cause: { status: 500 },
  });
  expectError(answerError(418, '{}', 'the hub'), {
    code: 'INTERNAL',
    message: 'the hub answered HTTP 418',
    cause: { status: 418 },
  });
});

test('a body that is not JSON: INTERNAL naming the status and quoting the start of the body', () => {
  const page = '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>';
  expectError(answerError(502, page, 'the hub'), {
    code: 'INTERNAL',
    message: `the hub answered HTTP 502, not with JSON: ${JSON.stringify(page)}`,
    cause: { status: 502, text: page },
  });
  const long = 'x'.repeat(1000);
  const err = answerError(500, long, 'the hub');
  assert.equal(err.message, `the hub answered HTTP 500, not with JSON: "${'x'.repeat(120)}…"`);
  assert.deepEqual(err.cause, { status: 500, text: 'x'.repeat(120) });
  // Control characters are quoted, not sent to a terminal.
  const escaped = answerError(500, 'bad\u001b[2Jbody').message;
  assert.ok(!escaped.includes('\u001b'));
  assert.ok(escaped.endsWith('"bad\\u001b[2Jbody"'));
});

test('an empty body, and JSON that is not an object, are not answers either', () => {
  expectError(answerError(503, '', 'the agent'), {
    code: 'INTERNAL',
    message: 'the agent answered HTTP 503 with an empty body',
    cause: { status: 503, text: '' },
  });
  for (const body of ['[]', '["API_BUSY"]', '"API_BUSY"', '42', 'null', 'true']) {
    const err = answerError(503, body, 'the agent');
    assert.equal(err.code, 'INTERNAL', body);
    assert.equal(err.message, `the agent answered HTTP 503, not with JSON: ${JSON.stringify(body)}`);
  }
  // Without a body at all (none was read), and with the default name.
  assert.equal(answerError(500, undefined).message, 'the server answered HTTP 500 with an empty body');
});

test('a body parsed already reads the same as its text', () => {
  const body = { code: 'TICKET_EXPIRED', message: 'expired' };
  assert.deepEqual(answerError(403, body).toJSON(), answerError(403, JSON.stringify(body)).toJSON());
});

test('parseAnswerBody: JSON objects only', () => {
  assert.deepEqual(parseAnswerBody('{"a":1}'), { a: 1 });
  assert.deepEqual(parseAnswerBody(' {} \n'), {});
  for (const text of ['', '  ', 'not json', '[1]', '"s"', '1', 'null', '{"a":'])
    assert.equal(parseAnswerBody(text), undefined, text);
});

test('readAnswer: a 2xx answer is its JSON, an empty one {}, anything else the error it carries', () => {
  assert.deepEqual(readAnswer(200, '{"ok":true}', 'the hub'), { ok: true });
  assert.deepEqual(readAnswer(201, '[1,2]', 'the hub'), [1, 2]);
  assert.deepEqual(readAnswer(204, '', 'the hub'), {});
  assert.throws(() => readAnswer(200, 'OK', 'the agent'), {
    name: 'LifelineError',
    code: 'INTERNAL',
    message: 'the agent answered HTTP 200, not with JSON: "OK"',
  });
  assert.throws(() => readAnswer(401, '{"code":"AUTH_REQUIRED","message":"log in"}', 'the hub'), {
    code: 'AUTH_REQUIRED',
    message: 'log in',
  });
  assert.throws(() => readAnswer(302, '', 'the hub'), {
    code: 'INTERNAL',
    message: 'the hub answered HTTP 302 with an empty body',
  });
});

test('any body and status: an error of ours, with the known code kept and a message that is never empty', () => {
  const known = Object.keys(errorCodes);
  const body = fc.oneof(
    fc.string(),
    fc.json(),
    fc
      .record(
        {
          code: fc.oneof(fc.constantFrom(...known), fc.string(), fc.integer()),
          message: fc.oneof(fc.string(), fc.constant(undefined)),
        },
        { requiredKeys: [] },
      )
      .map((value) => JSON.stringify(value)),
  );
  fc.assert(
    fc.property(fc.integer({ min: 300, max: 599 }), body, (status, text) => {
      const err = answerError(status, text, 'the hub');
      assert.ok(err instanceof LifelineError);
      assert.ok(err.message.length > 0);
      const payload = parseAnswerBody(text);
      if (payload && isErrorCode(payload.code)) assert.equal(err.code, payload.code);
      else assert.equal(err.code, 'INTERNAL');
      if (!payload || typeof payload.message !== 'string' || payload.message === '')
        assert.match(err.message, new RegExp(`^the hub answered HTTP ${status}`));
    }),
    { numRuns: 2000, interruptAfterTimeLimit: 3000 },
  );
});
