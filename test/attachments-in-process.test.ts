// The attachment wire against a real hub: mutual TLS with an enrolled station's certificate, HTTP/2,
// the hub's store and files in a temp dir. Chunks must match their manifest, arrive in order, and
// the whole file must match its SHA-256 at the end.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { agentPaths } from '../src/agent/index.js';
import { CallHomeClient } from '../src/agent/link/index.js';
import { HubDialer } from '../src/agent/link/index.js';
import { UploadChannel, UploadChannelUnavailable } from '../src/agent/attachments/index.js';
import { Uploader } from '../src/agent/attachments/index.js';
import { stagedFilePath } from '../src/agent/attachments/index.js';
import { systemClock } from '../src/common/clock.js';
import { AgentStore } from '../src/agent/store/index.js';
import { AttachmentStore } from '../src/agent/attachments/index.js';
import { OutboxStore } from '../src/agent/callhome/index.js';
import { enroll } from '../src/agent/identity/index.js';
import { silentLogger } from '../src/common/logger.js';
import { certSha256 } from '../src/pki/index.js';
import {
  alpnUpload,
  buildManifest,
  encodeUploadFrameHead,
  encodeManifest,
  encodeEnrollmentToken,
  manifestHeader,
  minChunkBytes,
} from '../src/protocol/index.js';
import {
  DirectoryBlobStore,
  discardUnfinishedUploadsIdleSince,
  type RemovedFile,
} from '../src/hub/attachments/index.js';
import { enrollmentTokenId } from '../src/hub/callhome/index.js';
import { hubPaths } from '../src/hub/index.js';
import { Hub } from '../src/hub/index.js';
import { initHub } from '../src/hub/setup/index.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const chunkBytes = minChunkBytes;

describe('attachment wire', () => {
  let root: string;
  let hub: Hub;
  let client: CallHomeClient;
  let dialer: HubDialer;
  let channel: UploadChannel;
  let problemLocalId: string;

  const send = (method: string, path: string, body?: Uint8Array, headers: Record<string, string> = {}) =>
    client.sendBytes(method, path, body, headers);
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const startUpload = (fields: Record<string, unknown>) =>
    send('POST', '/v1/attachments', json(fields), { 'content-type': 'application/json' });
  const putChunk = (id: string, index: number, bytes: Uint8Array, manifestOf: Uint8Array = bytes) =>
    send('PUT', `/v1/attachments/${id}/chunks/${index}`, bytes, {
      'content-type': 'application/octet-stream',
      [manifestHeader]: encodeManifest(
        buildManifest(manifestOf, { kind: 'attachment.chunk', id, contains: `chunk ${index + 1}` }),
      ),
    });
  const parse = (answer: { answer: string }) => JSON.parse(answer.answer) as Record<string, unknown>;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'lifeline-attach-wire-'));
    const hubDir = join(root, 'hub');
    await initHub(hubDir, { listen: '127.0.0.1:0', apiListen: '127.0.0.1:0' });
    hub = await Hub.start({ dataDir: hubDir, logger: silentLogger() });
    const secret = randomBytes(32).toString('base64url');
    await hub.store.addEnrollmentToken({
      id: enrollmentTokenId(secret),
      createdAtMs: Date.now(),
      expiresAtMs: Date.now() + 60_000,
      usedAtMs: null,
      usedByStation: null,
    });
    const agentDir = join(root, 'agent');
    const caSha256 = certSha256(readFileSync(hubPaths(hubDir).caCert, 'utf8'));
    await enroll({
      dataDir: agentDir,
      tokenText: encodeEnrollmentToken({ hub: `127.0.0.1:${hub.stationPort}`, caSha256, secret }),
    });
    const paths = agentPaths(agentDir);
    dialer = new HubDialer({
      endpoints: [`127.0.0.1:${hub.stationPort}`],
      serverName: undefined,
      credentials: () => ({
        caPem: readFileSync(paths.hubCa, 'utf8'),
        certPem: readFileSync(paths.stationCert, 'utf8'),
        keyPem: readFileSync(paths.stationKey, 'utf8'),
      }),
    });
    client = new CallHomeClient({ dialer });
    channel = new UploadChannel({
      connect: async (signal) => (await dialer.connectInUse(alpnUpload, signal)).socket,
    });
    problemLocalId = 'PB-WIRE01';
    const report = JSON.stringify({
      id: randomBytes(16).toString('hex'),
      kind: 'problem.open',
      createdAtMs: Date.now(),
      orderKey: problemLocalId,
      payload: { localId: problemLocalId, summary: 'wire test', severity: 'minor', occurredAtMs: Date.now() },
    });
    const envelope = JSON.parse(report) as { id: string; kind: string };
    const answer = await client.postRaw('/v1/reports', report, undefined, {
      [manifestHeader]: encodeManifest(
        buildManifest(report, { kind: envelope.kind, id: envelope.id, contains: 'x' }),
      ),
    });
    assert.equal(answer.status, 201, answer.answer);
  });

  after(async () => {
    channel?.close();
    client?.close();
    await hub?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const newUpload = (file: Buffer, extra: Record<string, unknown> = {}) => ({
    id: randomBytes(16).toString('hex'),
    problemLocalId,
    name: 'dump.bin',
    bytes: file.byteLength,
    sha256: sha256(file),
    chunkBytes,
    ...extra,
  });

  test('start is idempotent, refuses other fields, and waits for an unknown problem', async () => {
    const file = randomBytes(100);
    const fields = newUpload(file);
    assert.equal((await startUpload(fields)).status, 201);
    const again = await startUpload(fields);
    assert.equal(again.status, 200);
    assert.deepEqual([parse(again).receivedBytes, parse(again).complete], [0, false]);
    const other = await startUpload({ ...fields, name: 'other.bin' });
    assert.equal(other.status, 409);
    assert.equal(parse(other).code, 'CALLHOME_ATTACHMENT_CONFLICT');
    const unknown = await startUpload({ ...newUpload(file), problemLocalId: 'PB-NOSUCH' });
    assert.equal(unknown.status, 409);
    assert.equal(parse(unknown).code, 'CALLHOME_ATTACHMENT_PROBLEM_UNKNOWN');
    const bad = await startUpload({ ...newUpload(file), chunkBytes: 17 * 1024 * 1024 });
    assert.equal(bad.status, 400);
  });

  /** A random file of `bytes` whose upload is started; `chunk(i)` is its chunk i. */
  const startedUpload = async (bytes: number) => {
    const file = randomBytes(bytes);
    const fields = newUpload(file);
    assert.equal((await startUpload(fields)).status, 201);
    const chunk = (i: number) =>
      file.subarray(i * chunkBytes, Math.min(file.byteLength, (i + 1) * chunkBytes));
    return { file, fields, id: fields.id, chunk };
  };
  /** A copy of `bytes` with the byte at `at` changed. */
  const tamperedCopy = (bytes: Buffer, at: number) => {
    const copy = Buffer.from(bytes);
    copy[at] = (copy[at] ?? 0) ^ 0xff;
    return copy;
  };

  test('chunks: manifest checked, order enforced, repeats idempotent, whole file verified', async () => {
    const { file, fields, id, chunk } = await startedUpload(chunkBytes * 4 + 1000);

    // Bytes that differ from their manifest are refused, and nothing is recorded.
    const refused = await putChunk(id, 0, tamperedCopy(chunk(0), 10), chunk(0));
    assert.equal(refused.status, 400);
    assert.equal(parse(refused).code, 'CALLHOME_ATTACHMENT_INVALID');
    assert.match(String(parse(refused).message), /SHA-256/);
    const noManifest = await send('PUT', `/v1/attachments/${id}/chunks/0`, chunk(0), {
      'content-type': 'application/octet-stream',
    });
    assert.equal(noManifest.status, 400);

    // A chunk further ahead than the hub lets wait (three chunks) is refused at once, with
    // where the hub stands.
    const gap = await putChunk(id, 4, chunk(4));
    assert.equal(gap.status, 409);
    assert.deepEqual([parse(gap).code, parse(gap).receivedBytes], ['CALLHOME_ATTACHMENT_OUT_OF_ORDER', 0]);

    const first = await putChunk(id, 0, chunk(0));
    assert.equal(first.status, 200);
    assert.deepEqual([parse(first).receivedBytes, parse(first).duplicate], [chunkBytes, false]);
    const repeat = await putChunk(id, 0, chunk(0));
    assert.equal(repeat.status, 200);
    assert.deepEqual([parse(repeat).receivedBytes, parse(repeat).duplicate], [chunkBytes, true]);

    const early = await send('POST', `/v1/attachments/${id}/complete`, undefined, {});
    assert.equal(early.status, 409);
    assert.equal(parse(early).code, 'CALLHOME_ATTACHMENT_INCOMPLETE');

    // Chunks in flight: later ones may arrive first and wait for their turn.
    const [second, third, fourth] = await Promise.all([
      new Promise<void>((resolve) => setTimeout(resolve, 50)).then(() => putChunk(id, 1, chunk(1))),
      putChunk(id, 3, chunk(3)),
      putChunk(id, 2, chunk(2)),
    ]);
    assert.deepEqual([second.status, third.status, fourth.status], [200, 200, 200]);
    assert.equal(parse(third).receivedBytes, chunkBytes * 4);
    const last = await putChunk(id, 4, chunk(4));
    assert.equal(last.status, 200);
    assert.equal(parse(last).receivedBytes, file.byteLength);
    const state = await send('GET', `/v1/attachments/${id}`, undefined, {});
    assert.deepEqual([parse(state).receivedBytes, parse(state).complete], [file.byteLength, false]);

    const done = await send('POST', `/v1/attachments/${id}/complete`, undefined, {});
    assert.equal(done.status, 200, done.answer);
    assert.equal(parse(done).complete, true);
    const stored = await hub.store.attachments.get(id);
    assert.equal(stored?.state, 'complete');
    assert.equal(stored?.transferredBytes, file.byteLength + chunkBytes);
    const onDisk = join(root, 'hub', 'attachments', stored?.stationId ?? '', id);
    assert.equal(sha256(readFileSync(onDisk)), fields.sha256);
  });

  test('a whole file that does not match its SHA-256 is refused and the upload starts over', async () => {
    const file = randomBytes(chunkBytes + 10);
    const fields = newUpload(file, { sha256: sha256(randomBytes(8)) });
    const id = fields.id;
    assert.equal((await startUpload(fields)).status, 201);
    for (const [index, part] of [file.subarray(0, chunkBytes), file.subarray(chunkBytes)].entries()) {
      assert.equal((await putChunk(id, index, part)).status, 200);
    }
    const refused = await send('POST', `/v1/attachments/${id}/complete`, undefined, {});
    assert.equal(refused.status, 422);
    assert.deepEqual(
      [parse(refused).code, parse(refused).receivedBytes],
      ['CALLHOME_ATTACHMENT_CHECKSUM', 0],
    );
    const state = await send('GET', `/v1/attachments/${id}`, undefined, {});
    assert.deepEqual([parse(state).receivedBytes, parse(state).complete], [0, false]);
    assert.ok(existsSync(join(root, 'hub', 'attachments')));
  });

  test('an unknown attachment, and a chunk of the wrong length, are refused', async () => {
    const file = randomBytes(chunkBytes + 5);
    const fields = newUpload(file);
    assert.equal((await startUpload(fields)).status, 201);
    const short = await putChunk(fields.id, 0, file.subarray(0, 100));
    assert.equal(short.status, 400);
    assert.match(String(parse(short).message), /must hold/);
    const unknown = await putChunk(randomBytes(16).toString('hex'), 0, file.subarray(0, chunkBytes));
    assert.equal(unknown.status, 404);
    assert.equal(parse(unknown).code, 'CALLHOME_ATTACHMENT_NOT_FOUND');
  });

  describe('upload channel', () => {
    const frameChunk = (id: string, index: number, bytes: Uint8Array, manifestOf: Uint8Array = bytes) =>
      channel.send(
        {
          id,
          index,
          manifest: encodeManifest(
            buildManifest(manifestOf, { kind: 'attachment.chunk', id, contains: `chunk ${index + 1}` }),
          ),
        },
        bytes,
      );
    /** Reads the hub's answer lines on a raw upload connection until it ends. */
    const linesUntilEnd = (socket: TLSSocket) =>
      new Promise<Record<string, unknown>[]>((resolve) => {
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (piece: string) => (text += piece));
        socket.on('error', () => undefined);
        socket.once('close', () =>
          resolve(
            text
              .split('\n')
              .filter((line) => line.length > 0)
              .map((line) => JSON.parse(line) as Record<string, unknown>),
          ),
        );
      });

    test('chunks framed on their own connection get the answers of the call-home route', async () => {
      const { file, fields, id, chunk } = await startedUpload(chunkBytes * 3 + 777);

      // Bytes unlike their manifest: refused, nothing counted; the connection goes on.
      const refused = await frameChunk(id, 0, tamperedCopy(chunk(0), 3), chunk(0));
      assert.equal(refused.status, 400);
      assert.equal(parse(refused).code, 'CALLHOME_ATTACHMENT_INVALID');
      const otherStation = await frameChunk(randomBytes(16).toString('hex'), 0, chunk(0));
      assert.equal(otherStation.status, 404);

      // Several in flight on the one connection, answered each by its own sequence number.
      const sent: string[] = [];
      const answers = await Promise.all(
        [0, 1, 2, 3].map((i) =>
          channel.send(
            {
              id,
              index: i,
              manifest: encodeManifest(
                buildManifest(chunk(i), { kind: 'attachment.chunk', id, contains: `chunk ${i + 1}` }),
              ),
            },
            chunk(i),
            { onBodySent: () => sent.push(`chunk ${i}`) },
          ),
        ),
      );
      assert.deepEqual(sent, ['chunk 0', 'chunk 1', 'chunk 2', 'chunk 3'], 'bodies go out in order');
      assert.deepEqual(
        answers.map((a) => [a.status, parse(a).index]),
        [
          [200, 0],
          [200, 1],
          [200, 2],
          [200, 3],
        ],
      );
      assert.equal(parse(answers[3] ?? { answer: '{}' }).receivedBytes, file.byteLength);
      const repeat = await frameChunk(id, 1, chunk(1));
      assert.deepEqual([repeat.status, parse(repeat).duplicate], [200, true]);

      const done = await send('POST', `/v1/attachments/${id}/complete`, undefined, {});
      assert.equal(done.status, 200, done.answer);
      const stored = await hub.store.attachments.get(id);
      const onDisk = join(root, 'hub', 'attachments', stored?.stationId ?? '', id);
      assert.equal(sha256(readFileSync(onDisk)), fields.sha256);
    });

    test('a frame that cannot be read ends the connection with the reason', async () => {
      const { socket } = await dialer.connectInUse(alpnUpload);
      const lines = linesUntilEnd(socket);
      const tooLong = Buffer.alloc(4);
      tooLong.writeUInt32BE(1024 * 1024, 0);
      socket.write(tooLong);
      const [refusal] = await lines;
      assert.deepEqual([refusal?.seq, refusal?.status], [0, 400]);
      assert.match(String(refusal?.answer), /frame head of 1048576 bytes/);

      const { socket: second } = await dialer.connectInUse(alpnUpload);
      const secondLines = linesUntilEnd(second);
      second.write(
        encodeUploadFrameHead({
          seq: 1,
          id: 'not-an-id',
          index: 0,
          bytes: 4,
          manifest: 'x',
        }),
      );
      const [invalid] = await secondLines;
      assert.equal(invalid?.status, 400);
      assert.match(String(invalid?.answer), /id: an attachment id/);
    });

    test('a connection without a station certificate is refused', async () => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: hub.stationPort,
        ALPNProtocols: [alpnUpload],
        ca: readFileSync(hubPaths(join(root, 'hub')).caCert, 'utf8'),
        checkServerIdentity: () => undefined,
      });
      const [refusal] = await linesUntilEnd(socket);
      assert.equal(refusal?.seq, 0);
      assert.equal((JSON.parse(String(refusal?.answer)) as { code: string }).code, 'TUNNEL_CERT_REJECTED');
    });

    /** An agent's uploader (real store and staging) sending through `sendChunkFrame` or, failing that, PUTs. */
    const uploadWith = async (
      sendChunkFrame: ConstructorParameters<typeof Uploader>[0]['sendChunkFrame'],
      tamper?: (stagedPath: string) => void,
      more: {
        prepareChunkChannel?: (signal: AbortSignal) => void;
        /** Called as the start of the upload is sent over call home. */
        onStart?: () => void;
      } = {},
    ) => {
      const agentDir = mkdtempSync(join(root, 'uploader-'));
      const agentStore = await AgentStore.open(join(agentDir, 'agent.db'));
      const store = {
        attachments: new AttachmentStore(agentStore.db),
        outbox: new OutboxStore(agentStore.db),
      };
      const open = {
        id: randomBytes(16).toString('hex'),
        kind: 'problem.open' as const,
        createdAtMs: Date.now(),
        orderKey: problemLocalId,
        payload: {
          localId: problemLocalId,
          summary: 's',
          severity: 'minor' as const,
          occurredAtMs: Date.now(),
        },
      };
      await store.outbox.accept(open, { nowMs: Date.now(), maxPending: 10 });
      await store.outbox.markSent(open.id, Date.now(), '{}', 201);
      let puts = 0;
      const uploader = new Uploader({
        store: store.attachments,
        transmissions: store.outbox,
        send: (method, path, body, headers, options) => {
          if (method === 'PUT') puts += 1;
          if (method === 'POST' && path === '/v1/attachments') more.onStart?.();
          return client.sendBytes(method, path, body, headers, options);
        },
        ...(sendChunkFrame ? { sendChunkFrame } : {}),
        ...(more.prepareChunkChannel ? { prepareChunkChannel: more.prepareChunkChannel } : {}),
        dir: join(agentDir, 'attachments'),
        clock: systemClock,
        logger: silentLogger(),
        audit: async () => undefined,
        chunkBytes,
        minRetryMs: 10,
        maxRetryMs: 50,
      });
      const file = randomBytes(chunkBytes * 3 + 99);
      const record = await uploader.stage(problemLocalId, 'dump.bin', Readable.from([file]), {
        actor: 'test',
      });
      tamper?.(stagedFilePath(join(agentDir, 'attachments'), record.id));
      uploader.start();
      try {
        const final = await waitForState(store, record.id);
        const steps = await store.outbox.listTransmissions({ reportId: record.id });
        return { final, puts, steps, record };
      } finally {
        await uploader.close();
        await agentStore.close();
      }
    };
    const waitForState = async (store: { attachments: AttachmentStore }, id: string) => {
      for (let tries = 0; tries < 500; tries += 1) {
        const record = await store.attachments.get(id);
        if (record?.state === 'uploaded' || record?.state === 'failed') return record;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`attachment ${id} neither uploaded nor failed`);
    };

    test('the uploader sends its chunks over the channel, logged as transmissions', async () => {
      let frames = 0;
      const { final, puts, steps, record } = await uploadWith((chunk, body, options) => {
        frames += 1;
        return channel.send(chunk, body, options);
      });
      assert.deepEqual([final.state, frames, puts], ['uploaded', 4, 0]);
      assert.deepEqual(steps.map((step) => [step.kind, step.status]).sort(), [
        ['attachment.chunk', 200],
        ['attachment.chunk', 200],
        ['attachment.chunk', 200],
        ['attachment.chunk', 200],
        ['attachment.complete', 200],
        ['attachment.start', 201],
      ]);
      assert.equal((await hub.store.attachments.get(record.id))?.state, 'complete');
    });

    test('the channel is dialled before the start is sent, and its chunks go over that connection', async () => {
      let dials = 0;
      const own = new UploadChannel({
        connect: async (signal) => {
          dials += 1;
          return (await dialer.connectInUse(alpnUpload, signal)).socket;
        },
      });
      let dialsAtStart: number | undefined;
      try {
        const { final, puts } = await uploadWith(
          (chunk, body, options) => own.send(chunk, body, options),
          undefined,
          { prepareChunkChannel: (signal) => own.prepare(signal), onStart: () => (dialsAtStart ??= dials) },
        );
        assert.deepEqual([final.state, puts], ['uploaded', 0]);
        assert.equal(dialsAtStart, 1, 'dialled before the start went out');
        assert.equal(dials, 1, 'the chunks used the connection dialled ahead');
      } finally {
        own.close();
      }
    });

    test('when the channel cannot be opened, the chunks go over call home', async () => {
      const unreachable = new UploadChannel({ connect: () => Promise.reject(new Error('ALPN refused')) });
      const { final, puts, record } = await uploadWith((chunk, body, options) =>
        unreachable.send(chunk, body, options),
      );
      assert.deepEqual([final.state, puts], ['uploaded', 4]);
      assert.equal((await hub.store.attachments.get(record.id))?.sha256, record.sha256);
    });

    test('an upload whose partial file retention dropped starts over from byte 0 and completes', async () => {
      // The hub's default blobs path; a store of its own on it, as another hub node would have.
      const hubAttachments = join(root, 'hub', 'attachments');
      const blobs = new DirectoryBlobStore(hubAttachments);
      let frames = 0;
      // What retention dropped; earlier tests of this file may have left unfinished uploads too.
      let dropped: RemovedFile[] | undefined;
      const { final, record } = await uploadWith(async (chunk, body, options) => {
        frames += 1;
        if (chunk.index === 2 && dropped === undefined) {
          // The station went away after two chunks and came back once retention had run.
          for (let tries = 0; tries < 500; tries += 1) {
            if ((await hub.store.attachments.get(chunk.id))?.receivedBytes === 2 * chunkBytes) break;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          dropped = await discardUnfinishedUploadsIdleSince({
            store: hub.store,
            blobs,
            cutoffMs: Date.now() + 1,
          });
          const ours = dropped.find((upload) => upload.id === chunk.id);
          assert.equal(ours?.bytes, 2 * chunkBytes);
          assert.equal(existsSync(join(hubAttachments, ours.stationId, `${chunk.id}.part`)), false);
        }
        return channel.send(chunk, body, options);
      });
      assert.ok(dropped?.some((upload) => upload.id === record.id));
      assert.equal(final.state, 'uploaded', String(final.lastError));
      assert.ok(frames > 4, `chunks 0 and 1 were sent again (${frames} frames)`);
      const received = await hub.store.attachments.get(record.id);
      assert.deepEqual([received?.state, received?.sha256], ['complete', record.sha256]);
    });

    test('a staged file changed on disk after staging fails with that reason, not a retry loop', async () => {
      const { final, record } = await uploadWith(
        (chunk, body, options) => channel.send(chunk, body, options),
        (path) => writeFileSync(path, tamperedCopy(readFileSync(path), 5)),
      );
      assert.equal(final.state, 'failed');
      assert.match(String(final.lastError), /no longer matches the SHA-256 it had when it was staged/);
      assert.equal((await hub.store.attachments.get(record.id))?.receivedBytes, 0);
    });

    test('a channel that cannot be opened says so, so the chunk can go over call home', async () => {
      const unreachable = new UploadChannel({
        connect: () => Promise.reject(new Error('connect ECONNREFUSED')),
      });
      await assert.rejects(
        unreachable.send({ id: 'a'.repeat(32), index: 0, manifest: 'x' }, Buffer.alloc(1)),
        (err: unknown) => err instanceof UploadChannelUnavailable && /ECONNREFUSED/.test(err.message),
      );
    });

    test('dialling ahead that fails reports nothing; the next chunk dials again and learns why', async () => {
      let dials = 0;
      const unreachable = new UploadChannel({
        connect: () => {
          dials += 1;
          return Promise.reject(new Error('connect ECONNREFUSED'));
        },
      });
      // An unhandled rejection here would fail the test run.
      unreachable.prepare();
      await new Promise((resolve) => setImmediate(resolve));
      await assert.rejects(
        unreachable.send({ id: 'a'.repeat(32), index: 0, manifest: 'x' }, Buffer.alloc(1)),
        (err: unknown) => err instanceof UploadChannelUnavailable && /ECONNREFUSED/.test(err.message),
      );
      assert.equal(dials, 2);
    });
  });
});
