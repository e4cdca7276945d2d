import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { ChangeFeed } from './change-feed.js';

async function serve(feed: ChangeFeed) {
  const app = Fastify();
  app.get('/events', (request, reply) => feed.serve(request, reply));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

/** Reads server-sent events until `count` change events arrived. */
async function readChanges(url: string, count: number, onOpen: () => void): Promise<string[][]> {
  const response = await fetch(`${url}/events`);
  assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const body = response.body;
  assert.ok(body);
  const decoder = new TextDecoder();
  let text = '';
  const changes: string[][] = [];
  let opened = false;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    if (!opened && text.includes('event: hello')) {
      opened = true;
      onOpen();
    }
    for (const match of text.matchAll(/event: change\ndata: (.*)\n\n/g)) {
      changes.push((JSON.parse(match[1] ?? '{}') as { topics: string[] }).topics);
    }
    text = text.replace(/event: change\ndata: .*\n\n/g, '');
    // Leaving the loop cancels the stream.
    if (changes.length >= count) break;
  }
  return changes;
}

test('a burst of changes reaches a subscriber as one event naming each topic once', async () => {
  const feed = new ChangeFeed({ gatherMs: 50 });
  const { app, url } = await serve(feed);
  try {
    const changes = await readChanges(url, 1, () => {
      for (let i = 0; i < 500; i++) feed.changed('status', i % 2 === 0 ? 'sessions' : 'audit');
    });
    assert.deepEqual(changes, [['audit', 'sessions', 'status']]);
  } finally {
    feed.close();
    await app.close();
  }
});

test('changes after the first event make a second one; nothing is sent with nobody listening', async () => {
  const feed = new ChangeFeed({ gatherMs: 20 });
  feed.changed('before');
  const { app, url } = await serve(feed);
  try {
    const changes = await readChanges(url, 2, () => {
      feed.changed('one');
      setTimeout(() => feed.changed('two'), 100);
    });
    assert.deepEqual(changes, [['one'], ['two']]);
  } finally {
    feed.close();
    await app.close();
  }
});

test('more subscribers than allowed are refused with 503, and close() lets the server stop', async () => {
  const feed = new ChangeFeed({ maxSubscribers: 1 });
  const { app, url } = await serve(feed);
  const first = await fetch(`${url}/events`);
  assert.equal(first.status, 200);
  const second = await fetch(`${url}/events`);
  assert.equal(second.status, 503);
  assert.equal(((await second.json()) as { code: string }).code, 'API_BUSY');
  assert.equal(feed.subscribers, 1);
  feed.close();
  await app.close();
  assert.equal(feed.subscribers, 0);
});

test("an owner's share is counted apart: past it that owner is refused, another owner still subscribes", async () => {
  const feed = new ChangeFeed();
  const app = Fastify();
  app.get('/events', (request, reply) =>
    feed.serve(request, reply, {
      owner: String(request.headers['x-owner']),
      max: 2,
      refuse: (held) => Object.assign(new Error(`holds ${held}`), { statusCode: 429 }),
    }),
  );
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const open = (owner: string, signal?: AbortSignal) =>
    fetch(`${url}/events`, { headers: { 'x-owner': owner }, ...(signal ? { signal } : {}) });
  const first = new AbortController();
  try {
    const held = [await open('ana', first.signal), await open('ana')];
    assert.deepEqual(
      held.map((r) => r.status),
      [200, 200],
    );
    const refused = await open('ana');
    assert.equal(refused.status, 429);
    assert.match(((await refused.json()) as { message: string }).message, /holds 2/);
    const other = await open('bob');
    assert.equal(other.status, 200, 'another owner is not affected');
    assert.deepEqual([feed.heldBy('ana'), feed.heldBy('bob'), feed.subscribers], [2, 1, 3]);
    // A closed page gives its place back to its owner.
    first.abort();
    await new Promise<void>((resolve) => {
      const check = () => (feed.heldBy('ana') === 1 ? resolve() : setTimeout(check, 10));
      check();
    });
    assert.equal((await open('ana')).status, 200);
  } finally {
    feed.close();
    await app.close();
  }
  assert.deepEqual([feed.heldBy('ana'), feed.subscribers], [0, 0]);
});
