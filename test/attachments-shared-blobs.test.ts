// Several hub nodes over one database and one blob directory: an upload begun through one node's
// receiver resumes through another's, from the resume point the database records, and completes
// there with the whole file verified. Each node has its own database connection, blob store and
// writing thread, so nothing one node holds in memory is there for the other.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { systemClock } from '../src/common/clock.js';
import { createLogger } from '../src/common/logger.js';
import { buildManifest, encodeManifest, minChunkBytes } from '../src/protocol/index.js';
import { HubAudit } from '../src/hub/audit/index.js';
import {
  AttachmentReceiver,
  ChunkBody,
  DirectoryBlobStore,
  blobKeyOf,
  readableAttachment,
} from '../src/hub/attachments/index.js';
import { openSqliteHubStore, type HubStore } from '../src/hub/store/index.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const chunkBytes = minChunkBytes;
const stationId = 'ST-SHARED';
let counter = 0;

/** One hub node: its own connection to the shared database, its own blob store on the shared directory. */
interface Node {
  store: HubStore;
  blobs: DirectoryBlobStore;
  receiver: AttachmentReceiver;
  close(): Promise<void>;
}

async function startNode(database: string, blobsDir: string): Promise<Node> {
  const store = await openSqliteHubStore(database);
  const blobs = new DirectoryBlobStore(blobsDir);
  const audit = new HubAudit(store, systemClock, createLogger({ name: 'test', level: 'silent' }));
  const receiver = new AttachmentReceiver({ store, audit, clock: systemClock, blobs });
  let closed: Promise<void> | undefined;
  return {
    store,
    blobs,
    receiver,
    close() {
      closed ??= (async () => {
        await receiver.close();
        await blobs.close();
        await store.close();
      })();
      return closed;
    },
  };
}

async function withNodes(work: (a: Node, b: Node, file: Buffer, id: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-shared-blobs-'));
  const database = join(dir, 'hub.db');
  const blobsDir = join(dir, 'shared-blobs');
  const a = await startNode(database, blobsDir);
  const b = await startNode(database, blobsDir);
  try {
    counter += 1;
    await a.store.reports.ingest(
      stationId,
      {
        id: counter.toString(16).padStart(32, '0'),
        kind: 'problem.open',
        createdAtMs: Date.now(),
        orderKey: 'PB-SHARED',
        payload: { localId: 'PB-SHARED', summary: 'two nodes', severity: 'minor', occurredAtMs: Date.now() },
      },
      '{}',
      'h',
      Date.now(),
    );
    const file = randomBytes(5 * chunkBytes - 1234);
    const id = counter.toString(16).padStart(32, 'e');
    const started = await a.receiver.start(stationId, {
      id,
      problemLocalId: 'PB-SHARED',
      name: 'controller.dump',
      bytes: file.byteLength,
      sha256: sha256(file),
      chunkBytes,
    });
    assert.equal(started.status, 201);
    await work(a, b, file, id);
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends chunk `index` of `file` through `node`, as the agent would; returns the hub's answer. */
async function sendChunk(node: Node, file: Buffer, id: string, index: number) {
  const bytes = Buffer.from(file.subarray(index * chunkBytes, (index + 1) * chunkBytes));
  const manifest = encodeManifest(
    buildManifest(bytes, { kind: 'attachment.chunk', id, contains: `chunk ${index + 1}` }),
  );
  return node.receiver.chunk(
    stationId,
    id,
    index,
    manifest,
    new ChunkBody([bytes], bytes.byteLength),
    'channel',
  );
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const blocks: Buffer[] = [];
  for await (const block of stream) blocks.push(block as Buffer);
  return Buffer.concat(blocks);
}

test('an upload begun on node A resumes on node B after A stopped, and completes there verified', () =>
  withNodes(async (a, b, file, id) => {
    for (const index of [0, 1]) {
      const answer = await sendChunk(a, file, id, index);
      assert.equal(answer.status, 200);
    }
    // Node A goes away with the upload half done: its receiver, writing thread and memory are gone.
    await a.close();

    // The agent reconnects to node B and asks where the hub stands: the database's resume point.
    const state = await b.receiver.state(stationId, id);
    assert.deepEqual([state.receivedBytes, state.complete], [2 * chunkBytes, false]);
    for (const index of [2, 3, 4]) {
      const answer = await sendChunk(b, file, id, index);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.receivedBytes, Math.min(file.byteLength, (index + 1) * chunkBytes));
    }
    const done = await b.receiver.complete(stationId, id);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal('complete' in done.body && done.body.complete, true);

    const attachment = await readableAttachment(b.store, id);
    assert.equal(attachment.sha256, sha256(file));
    assert.ok((await bytesOf(await b.blobs.read(blobKeyOf(attachment)))).equals(file));
  }));

test('chunks alternating between two running nodes land in one file; each node follows the other', () =>
  withNodes(async (a, b, file, id) => {
    const nodes = [a, b];
    for (let index = 0; index < 5; index += 1) {
      const node = nodes[index % 2];
      assert.ok(node);
      const answer = await sendChunk(node, file, id, index);
      // Node A still holds its state of the upload from chunk 0 when chunk 2 arrives: it takes the
      // database's resume point, not its own, and is not refused.
      assert.equal(answer.status, 200, `chunk ${index}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.receivedBytes, Math.min(file.byteLength, (index + 1) * chunkBytes));
    }
    // A resend through the node that did not write it is a duplicate: nothing is written again.
    const resent = await sendChunk(a, file, id, 1);
    assert.equal('duplicate' in resent.body && resent.body.duplicate, true);

    const done = await a.receiver.complete(stationId, id);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    // Completing again through the other node finds it complete.
    const again = await b.receiver.complete(stationId, id);
    assert.equal('complete' in again.body && again.body.complete, true);
    const attachment = await readableAttachment(a.store, id);
    assert.ok((await bytesOf(await b.blobs.read(blobKeyOf(attachment)))).equals(file));
  }));

test('a whole file found to differ on node B starts over; node A, which wrote it, takes it again from byte 0', () =>
  withNodes(async (a, b, file, id) => {
    for (let index = 0; index < 5; index += 1)
      assert.equal((await sendChunk(a, file, id, index)).status, 200);
    // The shared storage spoilt a byte after node A wrote it.
    const key = { stationId, id };
    const part = `${a.blobs.describe(key)}.part`;
    const spoilt = readFileSync(part);
    spoilt[10] = (spoilt[10] ?? 0) ^ 0xff;
    writeFileSync(part, spoilt);

    const refused = await b.receiver.complete(stationId, id);
    assert.equal(refused.status, 422);
    assert.deepEqual(
      ['code' in refused.body && refused.body.code, refused.body.receivedBytes],
      ['CALLHOME_ATTACHMENT_CHECKSUM', 0],
    );
    assert.deepEqual([existsSync(part), existsSync(a.blobs.describe(key))], [false, false]);

    // Node A still holds the upload as all received: it follows the store back to byte 0.
    const first = await sendChunk(a, file, id, 0);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(
      ['duplicate' in first.body && first.body.duplicate, first.body.receivedBytes],
      [false, chunkBytes],
    );
    for (let index = 1; index < 5; index += 1)
      assert.equal((await sendChunk(a, file, id, index)).status, 200);
    const done = await a.receiver.complete(stationId, id);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const attachment = await readableAttachment(b.store, id);
    assert.ok((await bytesOf(await b.blobs.read(blobKeyOf(attachment)))).equals(file));
  }));
