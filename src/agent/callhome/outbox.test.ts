import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { StoreFullError } from '../../common/disk/index.js';
import Database from 'better-sqlite3';
import { silentLogger } from '../../common/logger.js';
import type { ReportEnvelope } from '../../protocol/index.js';
import { openAgentDatabase } from '../store/index.js';
import { OutboxStore } from './outbox-store.js';
import { Outbox, type Deliver, type OutboxOptions, type OutboxStatus } from './outbox.js';
import { newReportId } from './outbox-intake.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-outbox-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** An outbox store on an agent.db of its own; closing it closes the database. */
async function openOutboxStore(path: string): Promise<OutboxStore & { close(): Promise<void> }> {
  const db = await openAgentDatabase(path);
  return Object.assign(new OutboxStore(db), { close: () => db.destroy() });
}

interface Received {
  id: string;
  raw: Buffer;
}

/** What the test hub does with one request: answer it, or drop the connection after storing. */
type Reply = { status: number; answer?: string } | 'drop';

/** A hub on loopback that dedupes by envelope id, like the real one. */
class TestHub {
  readonly received: Received[] = [];
  readonly stored = new Map<string, number>();
  reply: (envelope: ReportEnvelope, seen: number) => Reply = () => ({ status: 200 });
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const envelope = JSON.parse(raw.toString('utf8')) as ReportEnvelope;
        const seen = this.received.filter((r) => r.id === envelope.id).length;
        this.received.push({ id: envelope.id, raw });
        const reply = this.reply(envelope, seen);
        if (reply === 'drop') {
          this.#store(envelope.id);
          req.socket.destroy();
          return;
        }
        let answer = reply.answer;
        if (answer === undefined) {
          const duplicate = this.stored.has(envelope.id);
          this.#store(envelope.id);
          answer = JSON.stringify({ stored: true, duplicate });
        }
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(answer);
      });
    });
  }

  #store(id: string): void {
    this.stored.set(id, (this.stored.get(id) ?? 0) + 1);
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/v1/reports`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  ids(): string[] {
    return this.received.map((r) => r.id);
  }
}

function deliverTo(url: string): Deliver {
  return async (body, signal) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal,
    });
    return { status: response.status, answer: await response.text() };
  };
}

/** Resolves once check() holds, looking again after each delivery attempt; bounded by timeoutMs. */
function waitUntil(outbox: Outbox, check: (s: OutboxStatus) => boolean, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let busy = false;
    let again = false;
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      outbox.off('attempt', evaluate);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => {
      void outbox.status().then((s) => finish(new Error(`timed out; status ${JSON.stringify(s)}`)));
    }, timeoutMs);
    function evaluate(): void {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      void (async () => {
        do {
          again = false;
          if (check(await outbox.status())) return finish();
        } while (again);
        busy = false;
      })().catch((err: unknown) => finish(err as Error));
    }
    outbox.on('attempt', evaluate);
    evaluate();
  });
}

describe('Outbox', () => {
  let path: string;
  let store: Awaited<ReturnType<typeof openOutboxStore>>;
  let hub: TestHub;
  let url: string;
  const outboxes: Outbox[] = [];

  const openStore = () => openOutboxStore(path);
  function newOutbox(options: Partial<OutboxOptions> = {}): Outbox {
    const outbox = new Outbox({
      store,
      deliver: deliverTo(url),
      clock: systemClock,
      logger: silentLogger(),
      minRetryMs: 5,
      maxRetryMs: 50,
      ...options,
    });
    outboxes.push(outbox);
    return outbox;
  }

  beforeEach(async () => {
    path = join(dir, `outbox-${++files}.db`);
    store = await openStore();
    hub = new TestHub();
    url = await hub.listen();
  });
  afterEach(async () => {
    for (const outbox of outboxes.splice(0)) await outbox.close();
    await store.close();
    await hub.close();
  });

  test('accepted reports survive closing and reopening the store', async () => {
    const outbox = newOutbox();
    const accepted = await outbox.accept('generic', { type: 'test', up: true }, { orderKey: 'hb' });
    assert.match(accepted.id, /^[0-9a-f]{32}$/);
    await outbox.close();
    await store.close();
    store = await openStore();
    const item = await store.get(accepted.id);
    assert.equal(item?.state, 'pending');
    assert.equal(item?.sha256, accepted.sha256);
    assert.equal(item?.bytes, accepted.bytes);
    const envelope = JSON.parse(item?.body ?? '') as ReportEnvelope;
    assert.deepEqual(envelope.payload, { type: 'test', up: true });
    assert.equal(envelope.orderKey, 'hb');
  });

  test('a 503 then a 200 delivers once, with the same id and body both times', async () => {
    hub.reply = (_e, seen) => (seen === 0 ? { status: 503, answer: 'busy' } : { status: 200 });
    const outbox = newOutbox();
    outbox.start();
    const { id } = await outbox.accept('generic', { type: 'test', n: 1 });
    await waitUntil(outbox, (s) => s.sent === 1);
    assert.deepEqual(hub.ids(), [id, id]);
    assert.deepEqual(hub.received[0]?.raw, hub.received[1]?.raw);
    assert.equal(hub.stored.get(id), 1);
    const item = await store.get(id);
    assert.equal(item?.attempts, 2);
    assert.equal(item?.answer, '{"stored":true,"duplicate":false}');
    assert.deepEqual(
      (await store.listTransmissions()).map((t) => [t.reportId, t.status]),
      [
        [id, 503],
        [id, 200],
      ],
    );
  });

  test('a delivery whose answer was lost is sent again with the same id; the hub stores it once', async () => {
    hub.reply = (_e, seen) => (seen === 0 ? 'drop' : { status: 200 });
    const outbox = newOutbox();
    outbox.start();
    const { id } = await outbox.accept('generic', { type: 'test', n: 1 });
    await waitUntil(outbox, (s) => s.sent === 1);
    assert.deepEqual(hub.ids(), [id, id]);
    assert.equal((await store.get(id))?.answer, '{"stored":true,"duplicate":true}');
  });

  test('order per order key holds when the first delivery fails and the second is due', async () => {
    hub.reply = (e, seen) => (e.payload.n === 1 && seen === 0 ? { status: 503 } : { status: 200 });
    // The first report waits minRetryMs after its failure, while the second is due at once.
    const outbox = newOutbox({ random: () => 0.999, minRetryMs: 20 });
    const a = await outbox.accept('generic', { type: 'test', n: 1 }, { orderKey: 'k' });
    const b = await outbox.accept('generic', { type: 'test', n: 2 }, { orderKey: 'k' });
    outbox.start();
    await waitUntil(outbox, (s) => s.sent === 2);
    assert.deepEqual(hub.ids(), [a.id, a.id, b.id]);
  });

  test('a 400 is kept as rejected, not retried, and does not block later reports', async () => {
    const answer = '{"code":"API_BAD_REQUEST","message":"bad payload"}';
    hub.reply = (e) => (e.payload.bad ? { status: 400, answer } : { status: 200 });
    const outbox = newOutbox();
    outbox.start();
    const bad = await outbox.accept('generic', { type: 'test', bad: true }, { orderKey: 'k' });
    const good = await outbox.accept('generic', { type: 'test', bad: false }, { orderKey: 'k' });
    await waitUntil(outbox, (s) => s.sent === 1 && s.rejected === 1);
    assert.deepEqual(hub.ids(), [bad.id, good.id]);
    const item = await store.get(bad.id);
    assert.equal(item?.state, 'rejected');
    assert.equal(item?.answer, answer);
    assert.equal(item?.attempts, 1);
    assert.equal((await outbox.status()).nextAttemptAtMs, null);
    assert.deepEqual(
      (await store.list({ state: 'rejected' })).map((i) => i.id),
      [bad.id],
    );
  });

  test('maxPending refuses with a clear error', async () => {
    const outbox = newOutbox({ maxPending: 3 });
    for (let i = 0; i < 3; i++) await outbox.accept('generic', { type: 'test', i });
    await assert.rejects(outbox.accept('generic', { type: 'test', i: 3 }), (err: unknown) => {
      assert.ok(err instanceof LifelineError);
      assert.equal(err.code, 'CALLHOME_OUTBOX_FULL');
      assert.match(err.message, /outbox is full: 3 reports wait for delivery \(limit 3\)/);
      return true;
    });
    assert.equal((await outbox.status()).pending, 3);
  });

  test('a 507 STORE_FULL from the hub is tried again later, never rejected, and delivered once there is room', async () => {
    const full = JSON.stringify({ code: 'STORE_FULL', message: 'the disk is full: /hub has 0 bytes free' });
    hub.reply = (_e, seen) => (seen < 2 ? { status: 507, answer: full } : { status: 201 });
    const outbox = newOutbox();
    outbox.start();
    const { id } = await outbox.accept('generic', { type: 'test', n: 1 });
    await waitUntil(outbox, (s) => s.sent === 1);
    assert.equal(hub.stored.get(id), 1);
    assert.deepEqual(
      (await store.listTransmissions()).map((t) => [t.status, t.answer === full]),
      [
        [507, true],
        [507, true],
        [201, false],
      ],
    );
  });

  test('while the store has no room new reports are refused with STORE_FULL; those it holds are still sent', async () => {
    let room = true;
    const ensureRoom = (): Promise<void> =>
      room
        ? Promise.resolve()
        : Promise.reject(
            new StoreFullError(
              { path: dir, dir, reason: 'disk', freeBytes: 0 },
              `the disk is full: ${dir} has 0 bytes free`,
            ),
          );
    const outbox = newOutbox({ ensureRoom });
    const before = await outbox.accept('generic', { type: 'test', n: 1 });
    room = false;
    // Both ways in: a report alone (group commit) and one written with a row of its own.
    for (const alsoWrite of [undefined, () => Promise.resolve()]) {
      await assert.rejects(
        outbox.accept('generic', { type: 'test', n: 2 }, alsoWrite ? { alsoWrite } : {}),
        (err: unknown) =>
          err instanceof LifelineError && err.code === 'STORE_FULL' && /0 bytes free/.test(err.message),
      );
    }
    assert.deepEqual(
      (await store.list()).map((item) => item.id),
      [before.id],
    );
    outbox.start();
    await waitUntil(outbox, (s) => s.sent === 1);
    room = true;
    await outbox.accept('generic', { type: 'test', n: 3 });
    await waitUntil(outbox, (s) => s.sent === 2);
    assert.equal(hub.stored.size, 2);
  });

  test('a sender that could not settle for lack of room goes on as soon as there is room, not after its back-off', async () => {
    // The hub answers every report of a batch; the store cannot log the transmissions (as on a full
    // disk), so nothing is settled and the sender backs off for about a minute.
    const delivered: string[] = [];
    const deliverBatch: Deliver = (body) => {
      const envelopes = body.split('\n').map((line) => JSON.parse(line) as ReportEnvelope);
      delivered.push(...envelopes.map((e) => e.id));
      const results = envelopes.map((e) => ({
        id: e.id,
        status: 201,
        answer: { stored: true, duplicate: false },
      }));
      return Promise.resolve({ status: 200, answer: JSON.stringify({ results }) });
    };
    const other = new Database(path);
    other.exec(
      `create trigger no_room before insert on transmissions begin select raise(abort, 'no room'); end`,
    );
    const outbox = newOutbox({ deliverBatch, minRetryMs: 60_000, maxRetryMs: 60_000, random: () => 0.999 });
    const { id } = await outbox.accept('generic', { type: 'test', n: 1 });
    outbox.start();
    // The failed settlement shows as the next attempt, most of a minute away.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const next = (await outbox.status()).nextAttemptAtMs ?? 0;
      if (delivered.length > 0 && next > Date.now() + 30_000) break;
      assert.ok(Date.now() < deadline, 'the settlement never failed');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal((await store.get(id))?.state, 'pending');
    other.exec('drop trigger no_room');
    other.close();
    outbox.storeRecovered();
    await waitUntil(outbox, (s) => s.sent === 1, 5000);
    assert.deepEqual(delivered, [id, id], 'sent again with the same id (the hub stores it once)');
  });

  test('an invalid payload is refused before it is stored', async () => {
    const outbox = newOutbox();
    await assert.rejects(outbox.accept('problem.close', { localId: 'nope' }), {
      code: 'CALLHOME_REPORT_INVALID',
    });
    assert.equal((await store.list()).length, 0);
  });

  test('a payload that only redaction made invalid is refused with that reason', async () => {
    // A stand-in for redaction that lengthens the report type past its 64 characters.
    const outbox = newOutbox({
      transformPayload: (_kind, payload) => ({ ...payload, type: `${String(payload.type)}-host-3f9a1c2b` }),
    });
    await assert.rejects(
      outbox.accept('generic', { type: `m${'x'.repeat(60)}` }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CALLHOME_REPORT_INVALID');
        assert.match(err.message, /once redacted/);
        return true;
      },
    );
    assert.equal((await store.list()).length, 0);
  });

  test('pause holds reports, resume delivers them', async () => {
    const outbox = newOutbox();
    outbox.start();
    outbox.pause(systemClock.now() + 60_000);
    const a = await outbox.accept('generic', { type: 'test', n: 1 });
    const b = await outbox.accept('generic', { type: 'test', n: 2 });
    const paused = await outbox.status();
    assert.equal(paused.pending, 2);
    assert.ok(paused.pausedUntilMs !== null && paused.pausedUntilMs > systemClock.now());
    assert.ok(paused.nextAttemptAtMs !== null && paused.nextAttemptAtMs >= paused.pausedUntilMs);
    assert.deepEqual(hub.ids(), []);
    outbox.resume();
    await waitUntil(outbox, (s) => s.sent === 2);
    assert.deepEqual(hub.ids(), [a.id, b.id]);
    assert.equal((await outbox.status()).pausedUntilMs, null);
  });

  test('a pause ends by itself at its end time', async () => {
    const outbox = newOutbox();
    outbox.start();
    const untilMs = systemClock.now() + 30;
    outbox.pause(untilMs);
    await outbox.accept('generic', { type: 'test' });
    await waitUntil(outbox, (s) => s.sent === 1);
    assert.ok(((await store.list())[0]?.sentAtMs ?? 0) >= untilMs);
  });

  test('held reports wait for release', async () => {
    const outbox = newOutbox();
    outbox.start();
    const held = await outbox.accept('generic', { type: 'test', cpu: 0.5 }, { hold: true });
    assert.equal((await outbox.status()).held, 1);
    assert.equal(await outbox.release('all'), 1);
    await waitUntil(outbox, (s) => s.sent === 1);
    assert.deepEqual(hub.ids(), [held.id]);
  });

  test('1,000 reports accepted, a crash before sending, all delivered once after restart', async () => {
    const first = newOutbox();
    const accepted = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const orderKey = i % 3 === 0 ? `k${i % 7}` : undefined;
      accepted.add((await first.accept('generic', { type: 'test', i }, orderKey ? { orderKey } : {})).id);
    }
    // The crash: the database is closed under the outbox, which never ran.
    first.destroy();
    await store.close();
    store = await openStore();
    const second = newOutbox();
    second.start();
    await waitUntil(second, (s) => s.sent === 1000, 60_000);
    assert.equal(hub.received.length, 1000);
    assert.deepEqual(new Set(hub.ids()), accepted);
    assert.ok([...hub.stored.values()].every((n) => n === 1));
    // Within an order key, the hub saw the reports in the order they were accepted.
    for (let k = 0; k < 7; k++) {
      const seen = hub.received
        .map((r) => JSON.parse(r.raw.toString('utf8')) as ReportEnvelope)
        .filter((e) => e.orderKey === `k${k}`)
        .map((e) => e.payload.i as number);
      assert.deepEqual(
        seen,
        [...seen].sort((x, y) => x - y),
      );
    }
  });

  test('the transmission log records the exact body and its SHA-256', async () => {
    const outbox = newOutbox();
    outbox.start();
    const accepted = await outbox.accept('generic', {
      type: 'test',
      text: 'grüße, 日本',
      nested: { a: [1, 2] },
    });
    await waitUntil(outbox, (s) => s.sent === 1);
    const raw = hub.received[0]?.raw;
    assert.ok(raw);
    const [entry] = await store.listTransmissions();
    assert.ok(entry);
    assert.equal(entry.reportId, accepted.id);
    assert.equal(entry.kind, 'generic');
    assert.equal(entry.status, 200);
    assert.equal(entry.bytes, raw.length);
    assert.equal(entry.sha256, createHash('sha256').update(raw).digest('hex'));
    assert.equal(entry.sha256, accepted.sha256);
    assert.equal((await store.get(accepted.id))?.body, raw.toString('utf8'));
  });

  test('close drains and is idempotent; destroy abandons a delivery, which stays pending', async () => {
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started: (() => void) | undefined;
    const inFlight = new Promise<void>((resolve) => (started = resolve));
    const deliver = deliverTo(url);
    const outbox = newOutbox({
      deliver: async (body, signal) => {
        started?.();
        await gate;
        return deliver(body, signal);
      },
    });
    outbox.start();
    const { id } = await outbox.accept('generic', { type: 'test' });
    await inFlight;
    const closing = Promise.all([outbox.close(), outbox.close()]);
    release?.();
    await closing;
    assert.equal((await store.get(id))?.state, 'sent');

    const hanging = newOutbox({
      deliver: (_body, signal) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason as Error)),
        ),
    });
    hanging.start();
    const second = await hanging.accept('generic', { type: 'test' });
    hanging.destroy();
    await hanging.close();
    const item = await store.get(second.id);
    assert.equal(item?.state, 'pending');
    assert.equal(item?.attempts, 0);
  });
});

describe('newReportId', () => {
  test('32 hex digits that sort by acceptance time, random within a millisecond', () => {
    const at = Date.UTC(2026, 10, 26, 12, 0, 0);
    const ids = [at, at + 1, at + 1000, at + 86_400_000].map((ms) => newReportId(ms));
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(ids[0]?.slice(0, 12), at.toString(16).padStart(12, '0'));
    const sameMs = new Set(Array.from({ length: 5000 }, () => newReportId(at)));
    assert.equal(sameMs.size, 5000, 'more ids than one draw of random bytes holds, none twice');
    assert.match(newReportId(-5), /^0{12}[0-9a-f]{20}$/, 'a clock before 1970 gives the smallest prefix');
  });
});
