// The attachment wire against a real hub: mutual TLS with an enrolled station's certificate, HTTP/2,
// the hub's store and files in a temp dir. Chunks must match their manifest, arrive in order, and
// the whole file must match its SHA-256 at the end.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentPaths } from '../agent/config.js';
import { CallHomeClient } from '../agent/callhome-client.js';
import { HubDialer } from '../agent/hub-dialer.js';
import { enroll } from '../agent/enroll.js';
import { silentLogger } from '../common/logger.js';
import { certSha256 } from '../pki/index.js';
import {
  buildManifest,
  encodeManifest,
  encodeEnrollmentToken,
  manifestHeader,
  minChunkBytes,
} from '../protocol/index.js';
import { enrollmentTokenId } from './callhome-api.js';
import { hubPaths } from './config.js';
import { Hub } from './hub.js';
import { initHub } from './init.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const chunkBytes = minChunkBytes;

describe('attachment wire', () => {
  let root: string;
  let hub: Hub;
  let client: CallHomeClient;
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
    const dialer = new HubDialer({
      endpoints: [`127.0.0.1:${hub.stationPort}`],
      serverName: undefined,
      credentials: () => ({
        caPem: readFileSync(paths.hubCa, 'utf8'),
        certPem: readFileSync(paths.stationCert, 'utf8'),
        keyPem: readFileSync(paths.stationKey, 'utf8'),
      }),
    });
    client = new CallHomeClient({ dialer });
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

  test('chunks: manifest checked, order enforced, repeats idempotent, whole file verified', async () => {
    const file = randomBytes(chunkBytes * 4 + 1000);
    const fields = newUpload(file);
    const id = fields.id;
    assert.equal((await startUpload(fields)).status, 201);
    const chunk = (i: number) =>
      file.subarray(i * chunkBytes, Math.min(file.byteLength, (i + 1) * chunkBytes));

    // Bytes that differ from their manifest are refused, and nothing is recorded.
    const tampered = Buffer.from(chunk(0));
    tampered[10] = (tampered[10] ?? 0) ^ 0xff;
    const refused = await putChunk(id, 0, tampered, chunk(0));
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
});
