// downloadFix against a real HTTP/2 server over mutual TLS whose answers the tests script: a cut
// transfer, a server that ignores ranges, a file of the wrong size, one whose bytes differ, a
// refusal; and a hub that is not there.

import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createSecureServer, constants, type Http2SecureServer } from 'node:http2';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LifelineError } from '../../common/errors.js';
import { createCa, createKeyAndCsr, issueServerCert, signStationCsr } from '../../pki/index.js';
import { contentRange, parseByteRange, type FixStatement } from '../../protocol/index.js';
import { CallHomeClient, type TlsCredentials } from '../link/index.js';
import { HubDialer } from '../link/index.js';
import { downloadFix } from './fixes.js';

const day = 86_400_000;
const data = randomBytes(700_000);
const fix: FixStatement = {
  name: 'bmc-fw',
  version: '2.1.0',
  file: 'bmc-fw-2.1.0.bin',
  appliesTo: [],
  size: data.length,
  sha256: createHash('sha256').update(data).digest('hex'),
  publishedAt: '2026-03-02T10:15:30.123Z',
};

/** What the server does with the next request. */
let mode: 'normal' | 'ignore-range' | 'cut' | 'not-found' | 'proxy-page' = 'normal';
let served: Buffer = data;
const ranges: (string | null)[] = [];
let server: Http2SecureServer;
let client: CallHomeClient;
let credentials: TlsCredentials;
let root: string;
let out: string;

before(async () => {
  const ca = await createCa('test CA', day);
  const tls = await issueServerCert(ca, ['127.0.0.1'], day);
  const station = await createKeyAndCsr('station');
  const stationCert = await signStationCsr(ca, station.csrPem, 'ST-TEST-TEST-0', day);
  credentials = { caPem: ca.certPem, certPem: stationCert, keyPem: station.keyPem };
  server = createSecureServer({
    key: tls.keyPem,
    cert: tls.certPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('stream', (stream, headers) => {
    // A reset stream errors on the server side too; the client's handling is what is tested.
    stream.on('error', () => undefined);
    const range = typeof headers.range === 'string' ? headers.range : null;
    ranges.push(range);
    if (mode === 'not-found') {
      stream.respond({ ':status': 404, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ code: 'CALLHOME_FIX_NOT_FOUND', message: 'no fix bmc-fw 2.1.0' }));
      return;
    }
    if (mode === 'proxy-page') {
      stream.respond({ ':status': 502, 'content-type': 'text/html' });
      stream.end('<html><body>Bad Gateway</body></html>');
      return;
    }
    const answer =
      mode === 'ignore-range'
        ? { kind: 'whole' as const }
        : parseByteRange(range ?? undefined, served.length);
    if (answer.kind === 'unsatisfiable') {
      stream.respond({ ':status': 416, 'content-range': contentRange(answer, served.length) });
      stream.end('{}');
      return;
    }
    const start = answer.kind === 'partial' ? answer.start : 0;
    const body = served.subarray(start);
    stream.respond({
      ':status': answer.kind === 'partial' ? 206 : 200,
      'content-length': body.length,
      ...(answer.kind === 'partial' ? { 'content-range': contentRange(answer, served.length) } : {}),
    });
    if (mode === 'cut') {
      // Half of what was asked, then the stream is reset, as when the hub or the network dies.
      stream.write(body.subarray(0, Math.floor(body.length / 2)), () =>
        stream.close(constants.NGHTTP2_INTERNAL_ERROR),
      );
      return;
    }
    stream.end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${port}`],
    serverName: undefined,
    credentials: () => credentials,
  });
  client = new CallHomeClient({ dialer });
  root = mkdtempSync(join(tmpdir(), 'lifeline-fixes-'));
});

beforeEach(() => {
  mode = 'normal';
  served = data;
  ranges.length = 0;
  out = mkdtempSync(join(root, 'out-'));
});

after(async () => {
  client.close();
  await new Promise((done) => server.close(done));
  rmSync(root, { recursive: true, force: true });
});

const target = () => join(out, fix.file);
const unverified = (err: unknown) => err instanceof LifelineError && err.code === 'CALLHOME_FIX_UNVERIFIED';

test('a download cut in the middle keeps its .part; the next one asks only for the rest', async () => {
  mode = 'cut';
  await assert.rejects(
    downloadFix({ client, fix, outDir: out }),
    (err: unknown) =>
      err instanceof LifelineError && err.code === 'API_UNREACHABLE' && /resume/.test(err.message),
  );
  const kept = readFileSync(`${target()}.part`);
  assert.ok(kept.length > 0 && kept.length < data.length, `kept ${kept.length}`);
  assert.deepEqual(kept, data.subarray(0, kept.length));
  assert.equal(existsSync(target()), false);

  mode = 'normal';
  const progress: number[] = [];
  const result = await downloadFix({ client, fix, outDir: out, onProgress: (done) => progress.push(done) });
  assert.deepEqual(ranges, [null, `bytes=${kept.length}-`]);
  assert.equal(result.resumedFromBytes, kept.length);
  assert.deepEqual(readFileSync(target()), data);
  assert.deepEqual(readdirSync(out), [fix.file]);
  assert.ok((progress[0] ?? 0) > kept.length && progress.at(-1) === data.length);
});

test('a server that answers a range with the whole file is followed from zero', async () => {
  writeFileSync(`${target()}.part`, data.subarray(0, 1000));
  mode = 'ignore-range';
  const result = await downloadFix({ client, fix, outDir: out });
  assert.equal(result.resumedFromBytes, 0);
  assert.deepEqual(readFileSync(target()), data);
});

test('a .part that holds wrong bytes fails the hash check and is deleted', async () => {
  writeFileSync(`${target()}.part`, randomBytes(1000));
  await assert.rejects(downloadFix({ client, fix, outDir: out }), unverified);
  assert.deepEqual(readdirSync(out), []);
});

test('a file of another size than signed is refused before it is fetched', async () => {
  served = Buffer.concat([data, Buffer.from('x')]);
  await assert.rejects(
    downloadFix({ client, fix, outDir: out }),
    (err: unknown) => unverified(err) && /bytes/.test(String(err)),
  );
  assert.deepEqual(readdirSync(out), []);
});

test('a file with one byte changed is refused and nothing is left', async () => {
  served = Buffer.from(data);
  served[12_345] = (served[12_345] ?? 0) ^ 0x80;
  await assert.rejects(
    downloadFix({ client, fix, outDir: out }),
    (err: unknown) => unverified(err) && /SHA-256/.test(String(err)),
  );
  assert.deepEqual(readdirSync(out), []);
});

test('a fix already in place is verified, not fetched again; another file of that name is not overwritten', async () => {
  writeFileSync(target(), data);
  assert.equal((await downloadFix({ client, fix, outDir: out })).alreadyPresent, true);
  assert.deepEqual(ranges, []);
  writeFileSync(target(), 'something else');
  await assert.rejects(
    downloadFix({ client, fix, outDir: out }),
    (err: unknown) => err instanceof LifelineError && err.code === 'CONFIG_EXISTS',
  );
  assert.equal(readFileSync(target(), 'utf8'), 'something else');
});

test("the hub's refusal is its code and message; an answer that is not JSON names the status", async () => {
  mode = 'not-found';
  await assert.rejects(downloadFix({ client, fix, outDir: out }), {
    code: 'CALLHOME_FIX_NOT_FOUND',
    message: 'no fix bmc-fw 2.1.0',
  });
  mode = 'proxy-page';
  await assert.rejects(downloadFix({ client, fix, outDir: out }), {
    code: 'INTERNAL',
    message: 'the hub answered HTTP 502, not with JSON: "<html><body>Bad Gateway</body></html>"',
  });
});

test("a hub that is not there is the dial's LINK_* code", async () => {
  const closed = createServer();
  await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
  const { port } = closed.address() as AddressInfo;
  await new Promise((done) => closed.close(done));
  const nowhere = new CallHomeClient({
    dialer: new HubDialer({
      endpoints: [`127.0.0.1:${port}`],
      serverName: undefined,
      credentials: () => credentials,
    }),
  });
  try {
    await assert.rejects(downloadFix({ client: nowhere, fix, outDir: out }), {
      code: 'LINK_REFUSED',
      message: new RegExp(`^cannot reach the hub for the fix: connection refused by 127\\.0\\.0\\.1:${port}`),
    });
  } finally {
    nowhere.close();
  }
});
