// The customer's control over call home, end to end: the problem list with the vendor's numbers,
// storm control, hold for review, redaction (seen in what left and in what the hub stored), and the
// manifest the hub checks on every report.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect as h2connect } from 'node:http2';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { alpnCallHome, buildManifest, encodeManifest } from '../src/protocol/index.js';
import { Cluster, runCli, waitFor } from './harness/cluster.js';

interface ProblemJson {
  localId: string;
  vendorNumber: string | null;
  state: string;
  occurrences: number;
  referenceCode: string | null;
  system: { serial: string } | null;
}

interface TransmissionJson {
  reportId: string;
  kind: string;
  status: number;
  sha256: string;
  manifest: {
    kind: string;
    id: string;
    bytes: number;
    sha256: string;
    contains: string;
    parts?: { name: string; bytes: number; sha256: string; contains?: string }[];
  } | null;
}

const reviewOff = '  review: false\n';
const agentYaml =
  'callhome:\n' +
  reviewOff +
  '  redact:\n' +
  '    extraHostnames: [nas-backup]\n' +
  '    extraUsernames: [svc-backup]\n';

describe('call-home control', () => {
  let cluster: Cluster;
  const data = () => ['--data', cluster.agentDir];
  const hubDb = () => new Database(join(cluster.hubDir, 'hub.db'), { readonly: true });
  const problems = async (): Promise<ProblemJson[]> =>
    JSON.parse((await cluster.cli(['agent', 'problems', '--json', ...data()])).stdout) as ProblemJson[];
  const sent = async (): Promise<TransmissionJson[]> =>
    JSON.parse((await cluster.cli(['agent', 'sent', '--json', ...data()])).stdout) as TransmissionJson[];
  const openProblem = (summary: string, code: string, system?: string) =>
    cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      summary,
      '--severity',
      'major',
      '--code',
      code,
      ...(system ? ['--system', system] : []),
      ...data(),
    ]);

  before(async () => {
    cluster = await Cluster.start({ remote: false, agentYaml });
  });

  after(async () => {
    await cluster?.close();
  });

  test('problem open prints the local id, then the vendor number; agent problems lists it', async () => {
    const opened = await openProblem('Fan 3 failed', 'E1F3', 'SN-1234');
    const ids = /Problem (PB-[0-9A-Z]{6}) accepted \(report ([0-9a-f]{32})\)/.exec(opened.stdout);
    assert.ok(ids?.[1], opened.stdout);
    const number = /Vendor problem number: (P-\d{6})/.exec(opened.stdout)?.[1];
    assert.ok(number, opened.stdout);
    const listed = (await problems()).find((p) => p.localId === ids[1]);
    assert.equal(listed?.vendorNumber, number);
    assert.equal(listed?.state, 'open');
    assert.equal(listed?.occurrences, 1);
    assert.equal(listed?.system?.serial, 'SN-1234');
    const table = (await cluster.cli(['agent', 'problems', ...data()])).stdout;
    assert.match(table, /^ID\s+VENDOR\s+STATE\s+SEVERITY\s+SYSTEM\s+CODE\s+SUMMARY\s+OPENED\s+OCCURRENCES/);
    assert.match(
      table,
      new RegExp(`${ids[1]}\\s+${number}\\s+open\\s+major\\s+SN-1234\\s+E1F3\\s+Fan 3 failed`),
    );

    // The transmission log says what each transmission carried.
    // Reports travel in batches: the manifest names each report of the batch with its checksum.
    const transmission = (await sent()).find((t) => t.reportId === ids[2]);
    const part = transmission?.manifest?.parts?.find((p) => p.name === ids[2]);
    assert.equal(part?.contains, `problem.open ${ids[1]}: Fan 3 failed`);
    assert.equal(part?.sha256, transmission?.sha256);

    const unknown = await runFailing(['agent', 'problem', 'update', 'PB-ZZZZZZ', '--note', 'x', ...data()]);
    assert.match(unknown, /CALLHOME_PROBLEM_UNKNOWN|no problem PB-ZZZZZZ/);
  });

  test('storm control: the same problem again updates the open one; the hub has one problem and an update', async () => {
    const first = await openProblem('Disk 2 degraded', 'D002', 'SN-77');
    const localId = /Problem (PB-[0-9A-Z]{6}) accepted/.exec(first.stdout)?.[1];
    assert.ok(localId, first.stdout);
    const again = await openProblem('Disk 2 degraded', 'D002', 'SN-77');
    assert.match(
      again.stdout,
      new RegExp(`Problem ${localId} was reported again: occurrence 2, no new problem opened`),
    );
    const report = /\(report ([0-9a-f]{32})\)/.exec(again.stdout)?.[1];
    assert.ok(report);
    const mine = (await problems()).filter((p) => p.referenceCode === 'D002');
    assert.equal(mine.length, 1);
    assert.equal(mine[0]?.occurrences, 2);
    await waitFor('the update at the hub', async () =>
      (await sent()).some((t) => t.reportId === report && t.status === 201) ? true : undefined,
    );
    const db = hubDb();
    const hubProblems = db.prepare("select number from problems where reference_code = 'D002'").all();
    const updates = db
      .prepare("select body from reports where kind = 'problem.update' and order_key = ?")
      .all(localId) as { body: string }[];
    db.close();
    assert.equal(hubProblems.length, 1);
    assert.equal(updates.length, 1);
    assert.match(updates[0]?.body ?? '', /reported again: occurrence 2/);
  });

  test('redaction: names and addresses leave as stable pseudonyms, in sent --show and at the hub alike', async () => {
    const summary = 'svc-backup on nas-backup lost db01.example.com at 10.20.30.40 and fe80::1';
    const reports: string[] = [];
    for (const code of ['R001', 'R002']) {
      const opened = await openProblem(summary, code);
      const id = /\(report ([0-9a-f]{32})\)/.exec(opened.stdout)?.[1];
      assert.ok(id, opened.stdout);
      reports.push(id);
    }
    const shown: string[] = [];
    for (const id of reports) {
      await waitFor('the report to be sent', async () =>
        (await sent()).some((t) => t.reportId === id && t.status === 201) ? true : undefined,
      );
      const bytes = (await cluster.cli(['agent', 'sent', '--show', id, ...data()])).stdout;
      const db = hubDb();
      const stored = db.prepare('select body from reports where id = ?').get(id) as { body: string };
      db.close();
      assert.equal(bytes, stored.body, 'what the hub stored is what sent --show shows');
      shown.push(bytes);
    }
    const summaries = shown.map((b) => (JSON.parse(b) as { payload: { summary: string } }).payload.summary);
    for (const secret of ['svc-backup', 'nas-backup', 'db01.example.com', '10.20.30.40', 'fe80::1']) {
      assert.ok(!shown[0]?.includes(secret), `${secret} left the appliance: ${shown[0]}`);
    }
    assert.match(
      summaries[0] ?? '',
      /^user-[0-9a-f]{8} on host-[0-9a-f]{8} lost host-[0-9a-f]{8} at ip-[0-9a-f]{8} and ip-[0-9a-f]{8}$/,
    );
    assert.equal(summaries[0], summaries[1], 'the same names get the same pseudonyms');
    // The local problem list keeps the original text for the appliance's own admin.
    assert.ok((await problems()).some((p) => p.referenceCode === 'R001'));
  });

  test('hold for review: reports wait as held until released', async () => {
    const path = join(cluster.agentDir, 'agent.yaml');
    writeFileSync(path, readFileSync(path, 'utf8').replace(reviewOff, '  review: true\n'));
    await cluster.stopAgent();
    await cluster.startAgent();
    const opened = await openProblem('PSU 1 lost input', 'P001');
    assert.match(opened.stdout, /held for review: release it with lifeline agent release [0-9a-f]{32}/);
    const report = /\(report ([0-9a-f]{32})\)/.exec(opened.stdout)?.[1];
    assert.ok(report);
    const outbox = (await cluster.cli(['agent', 'outbox', ...data()])).stdout;
    assert.match(outbox, new RegExp(`${report}\\s+problem\\.open\\s+held`));
    assert.match(outbox, /Held reports wait for review/);
    const listed = (await problems()).find((p) => p.referenceCode === 'P001');
    assert.equal(listed?.vendorNumber, null);
    assert.ok(!(await sent()).some((t) => t.reportId === report), 'nothing left while held');

    await cluster.cli(['agent', 'release', report, ...data()]);
    await waitFor('the released report at the hub', async () => {
      const problem = (await problems()).find((p) => p.referenceCode === 'P001');
      return problem?.vendorNumber ?? undefined;
    });
  });

  test('the hub refuses a report without a valid manifest, with the reason', async () => {
    const envelope = {
      id: randomBytes(16).toString('hex'),
      kind: 'generic',
      createdAtMs: Date.now(),
      orderKey: null,
      payload: { type: 'maintenance-statistics', n: 1 },
    };
    const body = JSON.stringify(envelope);
    const missing = await postAsStation(cluster, body, {});
    assert.equal(missing.status, 400);
    assert.equal(missing.json.code, 'CALLHOME_MANIFEST_INVALID');
    assert.match(String(missing.json.message), /lifeline-manifest header is missing/);

    const manifest = buildManifest(body, { kind: 'generic', id: envelope.id, contains: 'generic: test' });
    const tampered = body.replace('"n":1', '"n":2');
    const mismatch = await postAsStation(cluster, tampered, {
      'lifeline-manifest': encodeManifest(manifest),
    });
    assert.equal(mismatch.status, 400);
    assert.match(String(mismatch.json.message), /SHA-256/);

    const db = hubDb();
    const stored = db.prepare('select count(*) as n from reports where id = ?').get(envelope.id) as {
      n: number;
    };
    db.close();
    assert.equal(stored.n, 0, 'a refused report is not stored');

    const good = await postAsStation(cluster, body, { 'lifeline-manifest': encodeManifest(manifest) });
    assert.equal(good.status, 201, JSON.stringify(good.json));
  });

  test('a batch is answered report by report: an invalid report is refused alone, the others are stored once', async () => {
    const envelope = (payload: Record<string, unknown>) => ({
      id: randomBytes(16).toString('hex'),
      kind: 'generic',
      createdAtMs: Date.now(),
      orderKey: null,
      payload,
    });
    const good = envelope({ type: 'maintenance-statistics', n: 1 });
    const invalid = envelope({ n: 2 }); // a generic report needs a type
    const lines = [good, invalid].map((e) => JSON.stringify(e));
    const body = lines.join('\n');
    const manifestFor = (text: string) =>
      encodeManifest(
        buildManifest(text, {
          kind: 'reports.batch',
          id: randomBytes(16).toString('hex'),
          contains: '2 reports: 2 generic',
          parts: lines.map((line, i) => ({
            name: [good, invalid][i]?.id ?? '',
            bytes: Buffer.byteLength(line),
            sha256: createHash('sha256').update(line).digest('hex'),
          })),
        }),
      );
    const headers = { 'content-type': 'application/x-ndjson', 'lifeline-manifest': manifestFor(body) };
    const first = await postAsStation(cluster, body, headers, '/v1/reports/batch');
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const results = first.json.results as { id: string; status: number; answer: Record<string, unknown> }[];
    assert.deepEqual(
      results.map((r) => [r.id, r.status]),
      [
        [good.id, 201],
        [invalid.id, 422],
      ],
    );
    assert.equal(results[1]?.answer.code, 'CALLHOME_REPORT_INVALID');

    // Sent again (a lost answer): the stored report is a duplicate, never a second row.
    const again = await postAsStation(cluster, body, headers, '/v1/reports/batch');
    const againResults = again.json.results as { status: number }[];
    assert.equal(againResults[0]?.status, 200);
    const db = hubDb();
    const count = (id: string) =>
      (db.prepare('select count(*) as n from reports where id = ?').get(id) as { n: number }).n;
    assert.equal(count(good.id), 1);
    assert.equal(count(invalid.id), 0);
    db.close();

    // A batch whose bytes differ from its manifest is refused whole.
    const tampered = await postAsStation(
      cluster,
      body.replace('"n":1', '"n":3'),
      headers,
      '/v1/reports/batch',
    );
    assert.equal(tampered.status, 400);
    assert.equal(tampered.json.code, 'CALLHOME_MANIFEST_INVALID');
  });
});

async function runFailing(args: string[]): Promise<string> {
  const result = await runCli(args);
  assert.notEqual(result.code, 0, result.stdout);
  return result.stderr + result.stdout;
}

/** POST /v1/reports (or `path`) on the hub's call-home port with the station's own certificate. */
async function postAsStation(
  cluster: Cluster,
  body: string,
  headers: Record<string, string>,
  path = '/v1/reports',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const read = (name: string) => readFileSync(join(cluster.agentDir, name), 'utf8');
  const session = h2connect(`https://127.0.0.1:${cluster.stationPort}`, {
    createConnection: () =>
      tlsConnect({
        host: '127.0.0.1',
        port: cluster.stationPort,
        ca: read('hub-ca.pem'),
        cert: read('station.pem'),
        key: read('station-key.pem'),
        ALPNProtocols: [alpnCallHome],
        minVersion: 'TLSv1.3',
      }),
  });
  try {
    return await new Promise((resolve, reject) => {
      session.once('error', reject);
      const stream = session.request({
        'content-type': 'application/json',
        ...headers,
        ':method': 'POST',
        ':path': path,
      });
      let status = 0;
      let text = '';
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      stream.once('error', reject);
      stream.once('end', () =>
        resolve({ status, json: JSON.parse(text || '{}') as Record<string, unknown> }),
      );
      stream.end(body);
    });
  } finally {
    session.close();
  }
}
