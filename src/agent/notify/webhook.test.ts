// The webhook notifier against a real HTTP receiver on loopback. Every wait is on an event or a
// promise with a bound; retries use delays of a few milliseconds. Over 400 lines because every
// delivery rule (signing, order, retry, finality, bounds, shutdown, secrecy) shares one harness.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { pino } from 'pino';
import { ManualClock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import {
  signWebhookBody,
  verifyWebhookSignature,
  WebhookNotifier,
  type WebhookEvent,
  type WebhookOptions,
} from './webhook.js';

const secret = 'whsec_4c1d0e2b7f9a';
const stationId = 'st-abcd-efgh';
const waitMs = 5000;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: { id: string; type: string; stationId: string; at: string; data: { n?: number } };
}

type Respond = (request: Received, index: number) => number | Promise<number>;

interface Receiver {
  port: number;
  url: string;
  received: Received[];
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1; `respond` picks the status of each request. */
async function startReceiver(respond: Respond, port = 0): Promise<Receiver> {
  const received: Received[] = [];
  const events = new EventEmitter();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const request = { headers: req.headers, body, json: JSON.parse(body) as Received['json'] };
      received.push(request);
      events.emit('request');
      void Promise.resolve(respond(request, received.length - 1)).then((status) => {
        res.writeHead(status, status >= 300 && status < 400 ? { location: '/elsewhere' } : {});
        res.end('{}');
      });
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}/hooks/lifeline`,
    received,
    async waitForRequests(count) {
      const signal = AbortSignal.timeout(waitMs);
      while (received.length < count) await once(events, 'request', { signal });
    },
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A port with nothing listening on it (a moment ago). */
async function closedPort(): Promise<number> {
  const receiver = await startReceiver(() => 200);
  await receiver.close();
  return receiver.port;
}

/** A real pino logger writing into memory, to wait on log lines and to check them for secrets. */
function captureLogs() {
  const entries: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const events = new EventEmitter();
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        lines.push(line);
        entries.push(JSON.parse(line) as Record<string, unknown>);
        events.emit('entry');
      },
    },
  );
  return {
    logger,
    lines,
    entries,
    async waitFor(message: string): Promise<Record<string, unknown>> {
      const signal = AbortSignal.timeout(waitMs);
      for (;;) {
        const found = entries.find((entry) => entry['msg'] === message);
        if (found) return found;
        await once(events, 'entry', { signal });
      }
    },
  };
}

function options(url: string, extra: Partial<WebhookOptions> = {}): WebhookOptions {
  return {
    url,
    secret,
    clock: new ManualClock(),
    logger: captureLogs().logger,
    minDelayMs: 10,
    maxDelayMs: 40,
    ...extra,
  };
}

function event(n: number, type: WebhookEvent['type'] = 'session.started'): WebhookEvent {
  return { type, stationId, atMs: Date.UTC(2026, 0, 1, 12, 0, n), data: { n } };
}

const ns = (receiver: Receiver) => receiver.received.map((request) => request.json.data.n);

test('a signature verifies with its secret, and not with another secret, body or an old timestamp', () => {
  const body = '{"a":1}';
  const t = 1_767_225_600;
  // Computed independently: printf '%s' '1767225600.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
  assert.equal(
    signWebhookBody('whsec_test', t, body),
    'v1=6d204545ff126a339c00513d93603299c984074ce1331c3537c3f6c976b49019',
  );
  const header = `t=${t},${signWebhookBody(secret, t, body)}`;
  assert.equal(verifyWebhookSignature(secret, header, body, t), true);
  assert.equal(verifyWebhookSignature(secret, header, body, t + 300), true);
  assert.equal(verifyWebhookSignature(secret, header, body, t - 300), true);
  assert.equal(verifyWebhookSignature(secret, header, body, t + 301), false, 'too old');
  assert.equal(verifyWebhookSignature(secret, header, body, t - 301), false, 'too far ahead');
  assert.equal(verifyWebhookSignature(secret, header, body, t + 1000, 1000), true, 'own tolerance');
  assert.equal(verifyWebhookSignature('whsec_other', header, body, t), false);
  assert.equal(verifyWebhookSignature(secret, header, '{"a":2}', t), false);
  assert.equal(verifyWebhookSignature(secret, header, `${body} `, t), false);
  // The timestamp is signed: moving it breaks the signature.
  assert.equal(verifyWebhookSignature(secret, header.replace(`t=${t}`, `t=${t + 1}`), body, t), false);
  // During a secret rotation a sender may sign with both; one match is enough.
  const rotated = `t=${t},${signWebhookBody('whsec_old', t, body)},${signWebhookBody(secret, t, body)}`;
  assert.equal(verifyWebhookSignature(secret, rotated, body, t), true);
  const v1 = signWebhookBody(secret, t, body);
  for (const malformed of [
    '',
    v1,
    `t=${t}`,
    `t=,${v1}`,
    `t=abc,${v1}`,
    `t=-5,${v1}`,
    `t=${t},t=${t},${v1}`,
    `t=${t},${v1.slice(0, -2)}`,
    `t=${t},${v1}00`,
    `t=${t},v1=${'z'.repeat(64)}`,
    `t=${t},${v1},`,
    `t=${t};${v1}`,
  ]) {
    assert.equal(verifyWebhookSignature(secret, malformed, body, t), false, malformed);
  }
});

test('property: sign then verify holds, and any change to the body breaks it', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }),
      fc.string(),
      fc.integer({ min: 0, max: 4_000_000_000 }),
      fc.string({ minLength: 1 }),
      (key, body, t, extra) => {
        const header = `t=${t},${signWebhookBody(key, t, body)}`;
        assert.equal(verifyWebhookSignature(key, header, body, t), true);
        assert.equal(verifyWebhookSignature(key, header, body + extra, t), false);
      },
    ),
    { numRuns: 500, interruptAfterTimeLimit: 5000 },
  );
});

test('events arrive in order, with their headers, a signed body and a delivery id each', async (t) => {
  const receiver = await startReceiver(() => 204);
  t.after(() => receiver.close());
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const notifier = new WebhookNotifier(options(receiver.url, { clock }));
  const types = [
    'access-request.created',
    'access-request.accepted',
    'access-request.rejected',
    'session.started',
    'session.ended',
  ] as const;
  types.forEach((type, n) => notifier.notify(event(n, type)));
  assert.equal(notifier.stats.pending, 5);
  await notifier.close(waitMs);

  assert.deepEqual(notifier.stats, { delivered: 5, failed: 0, dropped: 0, pending: 0 });
  assert.deepEqual(ns(receiver), [0, 1, 2, 3, 4]);
  const ids = new Set<string>();
  receiver.received.forEach(({ headers, body, json }, n) => {
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(headers['lifeline-event'], types[n]);
    assert.equal(headers['lifeline-delivery'], json.id);
    assert.match(json.id, /^[0-9a-f-]{36}$/);
    ids.add(json.id);
    assert.deepEqual(json, {
      id: json.id,
      type: types[n],
      stationId,
      at: new Date(Date.UTC(2026, 0, 1, 12, 0, n)).toISOString(),
      data: { n },
    });
    const signature = String(headers['lifeline-signature']);
    assert.match(signature, /^t=1767268800,v1=[0-9a-f]{64}$/);
    assert.equal(verifyWebhookSignature(secret, signature, body, clock.now() / 1000), true);
    assert.equal(verifyWebhookSignature('whsec_other', signature, body, clock.now() / 1000), false);
  });
  assert.equal(ids.size, 5, 'one delivery id per event');
});

for (const [status, failures] of [
  [503, 2],
  [500, 1],
  [502, 1],
  [429, 1],
  [408, 1],
] as const) {
  test(`a ${status} is retried: delivered once, with the same delivery id every attempt`, async (t) => {
    const clock = new ManualClock();
    const signedAt: string[] = [];
    const receiver = await startReceiver((request, index) => {
      signedAt.push(String(request.headers['lifeline-signature']).split(',')[0] ?? '');
      // Each attempt is signed with the clock's time at that attempt.
      clock.advance(60_000);
      return index < failures ? status : 200;
    });
    t.after(() => receiver.close());
    const notifier = new WebhookNotifier(options(receiver.url, { clock }));
    notifier.notify(event(7));
    await notifier.close(waitMs);

    assert.deepEqual(notifier.stats, { delivered: 1, failed: 0, dropped: 0, pending: 0 });
    assert.equal(receiver.received.length, failures + 1);
    const first = receiver.received[0];
    for (const request of receiver.received) {
      assert.equal(request.json.id, first?.json.id);
      assert.equal(request.headers['lifeline-delivery'], first?.json.id);
      assert.equal(request.body, first?.body, 'the same bytes every attempt');
    }
    const start = Date.UTC(2026, 0, 1) / 1000;
    assert.deepEqual(
      signedAt,
      Array.from({ length: failures + 1 }, (_, i) => `t=${start + 60 * i}`),
    );
  });
}

for (const status of [400, 401, 404, 410, 301]) {
  test(`a ${status} is final: not retried, counted failed, and the next event still goes`, async (t) => {
    const receiver = await startReceiver((request) => (request.json.data.n === 1 ? status : 200));
    t.after(() => receiver.close());
    const logs = captureLogs();
    const notifier = new WebhookNotifier(options(receiver.url, { logger: logs.logger, maxAttempts: 5 }));
    notifier.notify(event(1));
    notifier.notify(event(2));
    await notifier.close(waitMs);

    assert.deepEqual(ns(receiver), [1, 2], 'no retry, and no redirect followed');
    assert.deepEqual(notifier.stats, { delivered: 1, failed: 1, dropped: 0, pending: 0 });
    const refused = await logs.waitFor('webhook delivery refused by the receiver; not retried');
    assert.equal(refused['status'], status);
  });
}

test('retries stop after maxAttempts; waits follow random × min(max, min × 2^attempt)', async (t) => {
  const receiver = await startReceiver((request) => (request.json.data.n === 1 ? 503 : 200));
  t.after(() => receiver.close());
  const logs = captureLogs();
  const notifier = new WebhookNotifier(
    options(receiver.url, {
      logger: logs.logger,
      maxAttempts: 5,
      minDelayMs: 10,
      maxDelayMs: 30,
      random: () => 0.5,
    }),
  );
  notifier.notify(event(1));
  notifier.notify(event(2));
  await notifier.close(waitMs);

  assert.deepEqual(ns(receiver), [1, 1, 1, 1, 1, 2]);
  assert.deepEqual(notifier.stats, { delivered: 1, failed: 1, dropped: 0, pending: 0 });
  const waits = logs.entries
    .filter((entry) => entry['msg'] === 'webhook delivery failed; will retry')
    .map((entry) => entry['retryInMs']);
  assert.deepEqual(waits, [5, 10, 15, 15]);
  const gaveUp = await logs.waitFor('webhook delivery failed; giving up');
  assert.equal(gaveUp['attempt'], 5);
});

test('a receiver that is down at first and comes up later still gets the event', async (t) => {
  const port = await closedPort();
  const logs = captureLogs();
  const notifier = new WebhookNotifier(
    options(`http://127.0.0.1:${port}/hooks/lifeline`, { logger: logs.logger, maxAttempts: 1000 }),
  );
  notifier.notify(event(1));
  const refused = await logs.waitFor('webhook delivery failed; will retry');
  assert.match(String(refused['error']), /ECONNREFUSED/);

  const receiver = await startReceiver(() => 200, port);
  t.after(() => receiver.close());
  await receiver.waitForRequests(1);
  await notifier.close(waitMs);
  assert.deepEqual(ns(receiver), [1]);
  assert.deepEqual(notifier.stats, { delivered: 1, failed: 0, dropped: 0, pending: 0 });
});

test('an attempt that gets no answer times out and is retried', async (t) => {
  const receiver = await startReceiver((_request, index) =>
    index === 0 ? new Promise<number>(() => {}) : 200,
  );
  t.after(() => receiver.close());
  const logs = captureLogs();
  const notifier = new WebhookNotifier(
    options(receiver.url, { logger: logs.logger, timeoutMs: 200, maxAttempts: 100 }),
  );
  notifier.notify(event(1));
  await notifier.close(waitMs);

  assert.deepEqual(notifier.stats, { delivered: 1, failed: 0, dropped: 0, pending: 0 });
  assert.ok(receiver.received.length >= 2);
  assert.equal(new Set(receiver.received.map((request) => request.json.id)).size, 1);
  const timedOut = await logs.waitFor('webhook delivery failed; will retry');
  assert.equal(timedOut['error'], 'timed out after 200 ms');
});

test('a full queue drops its oldest waiting event and counts it', async (t) => {
  let release = (_status: number): void => undefined;
  const held = new Promise<number>((resolve) => (release = resolve));
  const receiver = await startReceiver((_request, index) => (index === 0 ? held : 200));
  t.after(() => receiver.close());
  const logs = captureLogs();
  const notifier = new WebhookNotifier(options(receiver.url, { logger: logs.logger, maxQueue: 2 }));
  notifier.notify(event(0));
  await receiver.waitForRequests(1); // event 0 is in flight; the queue bounds what waits behind it
  for (const n of [1, 2, 3]) notifier.notify(event(n));
  assert.deepEqual(notifier.stats, { delivered: 0, failed: 0, dropped: 1, pending: 3 });
  const dropped = await logs.waitFor('webhook queue full; dropped the oldest event');
  release(200);
  await notifier.close(waitMs);

  assert.deepEqual(ns(receiver), [0, 2, 3]);
  assert.deepEqual(notifier.stats, { delivered: 3, failed: 0, dropped: 1, pending: 0 });
  assert.equal(typeof dropped['deliveryId'], 'string');
});

test('close() drains pending deliveries, retries included, then refuses new events', async (t) => {
  const receiver = await startReceiver((_request, index) => (index === 0 ? 503 : 200));
  t.after(() => receiver.close());
  const notifier = new WebhookNotifier(options(receiver.url));
  for (const n of [1, 2, 3]) notifier.notify(event(n));
  const closing = notifier.close(waitMs);
  assert.equal(notifier.close(), closing, 'idempotent');
  await closing;

  assert.deepEqual(ns(receiver), [1, 1, 2, 3]);
  assert.deepEqual(notifier.stats, { delivered: 3, failed: 0, dropped: 0, pending: 0 });
  notifier.notify(event(4));
  assert.deepEqual(notifier.stats, { delivered: 3, failed: 0, dropped: 1, pending: 0 });
});

test('close() stops at its deadline and counts what it could not deliver as dropped', async (t) => {
  const receiver = await startReceiver(() => 503);
  t.after(() => receiver.close());
  const logs = captureLogs();
  const notifier = new WebhookNotifier(options(receiver.url, { logger: logs.logger, maxAttempts: 10_000 }));
  for (const n of [1, 2, 3]) notifier.notify(event(n));
  await receiver.waitForRequests(1);
  const startedMs = performance.now();
  await notifier.close(100);
  assert.ok(performance.now() - startedMs < 2000, 'close returned soon after its deadline');

  assert.deepEqual(notifier.stats, { delivered: 0, failed: 0, dropped: 3, pending: 0 });
  const stopped = await logs.waitFor('webhook notifier stopped; events dropped');
  assert.equal(stopped['dropped'], 3);
  assert.ok(
    ns(receiver).every((n) => n === 1),
    'later events never overtook the first',
  );
});

test('destroy() aborts the attempt in flight and drops the rest', async (t) => {
  const receiver = await startReceiver(() => new Promise<number>(() => {}));
  t.after(() => receiver.close());
  const notifier = new WebhookNotifier(options(receiver.url));
  notifier.notify(event(1));
  notifier.notify(event(2));
  await receiver.waitForRequests(1);
  notifier.destroy();
  assert.deepEqual(notifier.stats, { delivered: 0, failed: 0, dropped: 2, pending: 0 });
  await notifier.close(waitMs);
  assert.deepEqual(notifier.stats, { delivered: 0, failed: 0, dropped: 2, pending: 0 });
});

test('notify() never throws: an event that cannot be sent is counted failed', async (t) => {
  const receiver = await startReceiver(() => 200);
  t.after(() => receiver.close());
  const notifier = new WebhookNotifier(options(receiver.url, { maxBodyBytes: 1024 }));
  const circular: Record<string, unknown> = {};
  circular['self'] = circular;
  notifier.notify({ ...event(1), data: circular });
  notifier.notify({ ...event(2), data: { big: 10n } });
  notifier.notify({ ...event(3), atMs: Number.NaN });
  notifier.notify({ ...event(4), data: { text: 'x'.repeat(2000) } });
  notifier.notify(event(5));
  await notifier.close(waitMs);
  assert.deepEqual(ns(receiver), [5]);
  assert.deepEqual(notifier.stats, { delivered: 1, failed: 4, dropped: 0, pending: 0 });
});

test('the secret, and a token in the URL path or query, appear in no log line or error', async (t) => {
  const pathToken = 'pathtoken-9f8e7d';
  const queryToken = 'querytoken-1a2b3c';
  const receiver = await startReceiver((request) => (request.json.data.n === 1 ? 503 : 401));
  t.after(() => receiver.close());
  const logs = captureLogs();
  const notifier = new WebhookNotifier(
    options(`http://127.0.0.1:${receiver.port}/hooks/${pathToken}?token=${queryToken}`, {
      logger: logs.logger,
      maxAttempts: 3,
      maxQueue: 1,
    }),
  );
  for (const n of [1, 2, 3]) notifier.notify(event(n));
  await notifier.close(waitMs);
  notifier.notify(event(4));
  assert.deepEqual(notifier.stats, { delivered: 0, failed: 2, dropped: 2, pending: 0 });
  assert.ok(logs.lines.length >= 5, 'retries, failures and drops were logged');
  for (const text of [...logs.lines, inspect(notifier, { depth: 5 }), JSON.stringify(notifier)]) {
    for (const hidden of [secret, pathToken, queryToken]) assert.ok(!text.includes(hidden), text);
  }

  for (const url of [
    `ftp://127.0.0.1/${pathToken}`,
    `http://user:${queryToken}@127.0.0.1/hook`,
    `not a url ${pathToken}`,
  ]) {
    assert.throws(
      () => new WebhookNotifier(options(url)),
      (err: unknown) =>
        err instanceof LifelineError &&
        err.code === 'CONFIG_INVALID' &&
        !err.message.includes(pathToken) &&
        !err.message.includes(queryToken) &&
        err.cause === undefined,
    );
  }
  assert.throws(() => new WebhookNotifier(options(receiver.url, { secret: '' })), { code: 'CONFIG_INVALID' });
  for (const bad of [
    { maxAttempts: 0 },
    { minDelayMs: 0 },
    { minDelayMs: 50, maxDelayMs: 10 },
    { maxQueue: 0 },
  ]) {
    assert.throws(() => new WebhookNotifier(options(receiver.url, bad)), { code: 'CONFIG_INVALID' });
  }
});
