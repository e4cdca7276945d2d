// Fair shares under hostile load, through the real processes (hub, agent, technicians, a browser)
// on loopback: one user holding all the live pages, download links or session requests it may
// leaves the others theirs; a technician's flood costs the appliance a bounded number of audit
// rows; a station over its share of uploads waits and gets through later; failed logins from one
// address never lock the user out from another. Every loop is bounded.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  buildManifest,
  encodeManifest,
  manifestHeader,
  maxAttachmentBytes,
  minChunkBytes,
  probeHeaderValue,
  sessionProtocol,
  technicianConnectPath,
} from '../../src/protocol/index.js';
import { Cluster, runCli, waitFor } from '../harness/cluster.js';
import { startEchoServer, type EchoServer } from '../harness/echo-server.js';
import { TestBrowser } from '../harness/browser.js';
import { answerOf, connectTo, request, tokenOf, type Answer } from '../harness/hub-http2.js';

interface AuditJson {
  seq: number;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

describe('fair shares under hostile load', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let hubCa: string;
  let api: ClientHttp2Session;
  const env: Record<string, NodeJS.ProcessEnv> = {};
  let uploadedId = '';

  const agentAudit = async (): Promise<AuditJson[]> =>
    JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as AuditJson[];
  const hubAudit = async (): Promise<AuditJson[]> =>
    JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as AuditJson[];

  /** A session request as `lifeline connect` sends it, checked only (`lifeline-probe: 1`). */
  const probe = (token: string) => {
    const stream = api.request(
      {
        ':method': 'CONNECT',
        ':protocol': sessionProtocol,
        ':scheme': 'https',
        ':path': technicianConnectPath(cluster.stationId, 'echo'),
        authorization: `Bearer ${token}`,
        'lifeline-probe': probeHeaderValue('check'),
      },
      { endStream: false },
    );
    stream.on('error', () => undefined);
    return answerOf(stream);
  };

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start({
      access: 'restricted',
      services: { echo: echo.port },
      hubYaml: [
        'shares:',
        '  perUser:',
        '    feedStreams: 3',
        '    downloadLinks: 2',
        '    sessionRequests: 10',
        '    sessionRequestWindow: 1h',
        '  perStation:',
        '    uploads: 2',
        '    uploadPendingGb: 64',
        'login:',
        '  maxFailuresPerUser: 2',
        '  backoff: 200ms',
        '',
      ].join('\n'),
      agentYaml: [
        'sessions:',
        '  maxAttemptsPerTechnician: 6',
        '  refusalsAuditedPerTechnician: 3',
        '  attemptInterval: 8s',
        '',
      ].join('\n'),
    });
    hubCa = readFileSync(join(cluster.hubDir, 'ca.pem'), 'utf8');
    api = await connectTo(cluster.apiPort, { ca: hubCa });
    [env.viewer, env.flooder, env.flooder2] = await Promise.all([
      cluster.technician('viewer', 'viewer-password-1', 'support'),
      cluster.technician('flooder', 'flooder-password-1'),
      cluster.technician('flooder2', 'flooder2-password-1'),
    ]);
    env.tech = cluster.techEnv;
    await cluster.cli([
      'agent',
      'acl',
      'add',
      '--technician',
      'tech',
      '--services',
      'echo',
      '--data',
      cluster.agentDir,
    ]);
  });

  after(async () => {
    api?.close();
    await cluster?.close();
    await echo?.close();
  });

  test("a user holding every live page one user may is refused; another user's console still goes live", async () => {
    const viewer = tokenOf(env.viewer ?? {});
    const held: ClientHttp2Stream[] = [];
    const openFeed = async (token: string) => {
      const stream = api.request({
        ':method': 'GET',
        ':path': '/v1/events',
        authorization: `Bearer ${token}`,
        accept: 'text/event-stream',
      });
      stream.on('error', () => undefined);
      const [headers] = (await once(stream, 'response')) as [Answer['headers']];
      return { stream, status: Number(headers[':status']) };
    };
    try {
      for (let i = 0; i < 3; i++) {
        const feed = await openFeed(viewer);
        assert.equal(feed.status, 200, `live page ${i + 1}`);
        held.push(feed.stream);
      }
      // The viewer is not even a technician; its fourth page is refused, with the limit named.
      const refused = await request(api, 'GET', '/v1/events', {
        token: viewer,
        headers: { accept: 'text/event-stream' },
      });
      assert.equal(refused.status, 429);
      assert.equal(refused.json.code, 'API_LIMIT_REACHED');
      assert.match(
        String(refused.json.message),
        /^user viewer has 3 live pages open, as many as one user may \(hub\.yaml shares\.perUser\.feedStreams\): close one of them, then reload this page$/,
      );

      // Another user's console, in a real browser, loads and goes live.
      const browser = await TestBrowser.launch({
        trustCertPems: [readFileSync(join(cluster.hubDir, 'server.pem'), 'utf8')],
      });
      try {
        const page = await browser.page();
        await page.goto(`${cluster.hubUrl}/ui/console/`);
        await page.getByLabel('User').fill('tech');
        await page.getByLabel('Password').fill('tech-password-1');
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByTestId('stations-table').waitFor();
        await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });
        assert.match(
          (await page.getByTestId('stations-table').textContent()) ?? '',
          new RegExp(cluster.stationId),
        );
        // The viewer's own console says why it is not live, in the hub's words.
        const own = await browser.context.newPage();
        await own.goto(`${cluster.hubUrl}/ui/console/`);
        await own.getByLabel('User').fill('viewer');
        await own.getByLabel('Password').fill('viewer-password-1');
        await own.getByRole('button', { name: 'Sign in' }).click();
        await own
          .getByTestId('live-state')
          .filter({ hasText: 'Not live: user viewer has 3 live pages open' })
          .waitFor({ timeout: 15_000 });
        assert.match(
          (await own.getByTestId('live-state').textContent()) ?? '',
          /shares\.perUser\.feedStreams/,
        );
      } finally {
        await browser.close();
      }

      // A page the viewer closes gives its place back.
      held.pop()?.close();
      const again = await waitFor('the closed page to be counted off', async () => {
        const feed = await openFeed(viewer);
        if (feed.status === 200) return feed;
        feed.stream.close();
        return undefined;
      });
      held.push(again.stream);
    } finally {
      for (const stream of held) stream.close();
    }
  });

  test('a flood of session requests is refused at the hub; another technician still gets a session', async () => {
    const flood = async (token: string) => {
      const answers: Answer[] = [];
      for (let i = 0; i < 14; i++) answers.push(await probe(token));
      return answers;
    };
    // Two technicians flood at once.
    const [first, second] = await Promise.all([
      flood(tokenOf(env.flooder ?? {})),
      flood(tokenOf(env.flooder2 ?? {})),
    ]);
    for (const answers of [first ?? [], second ?? []]) {
      // The first 10 (the hub's share) reach the appliance: 6 decided (pending approval), then 4
      // refused by the appliance's own bound; the last 4 never leave the hub.
      assert.deepEqual(
        answers.map((a) => [a.status, a.json.code]),
        [
          ...Array.from({ length: 6 }, () => [403, 'POLICY_PENDING_APPROVAL']),
          ...Array.from({ length: 8 }, () => [429, 'API_LIMIT_REACHED']),
        ],
      );
      assert.match(
        String(answers[6]?.json.message),
        /agent\.yaml sessions\.maxAttemptsPerTechnician: 6 per 8s/,
      );
      const atHub = answers[13];
      assert.match(
        String(atHub?.json.message),
        /^user flooder2? made more session requests than one user may \(hub\.yaml shares\.perUser\.sessionRequests: 10 per 1h\): try again in \d+ s$/,
      );
      const retryAfter = Number(atHub?.headers['retry-after']);
      assert.ok(
        retryAfter >= 300 && retryAfter <= 360,
        `retry-after ${String(atHub?.headers['retry-after'])}`,
      );
      assert.equal(atHub?.headers['lifeline-error-code'], 'API_LIMIT_REACHED');
    }

    // The CLI says which limit and when to try again.
    const refused = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      input: 'never sent\n',
      env: env.flooder,
    });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^lifeline: user flooder made more session requests than one user may \(hub\.yaml shares\.perUser\.sessionRequests: 10 per 1h\): try again in \d+ s \(API_LIMIT_REACHED\)$/m,
    );
    // Another technician, meanwhile, gets a session.
    const session = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      input: 'through the flood\n',
      env: env.tech,
    });
    assert.equal(session.code, 0, session.stderr);
    assert.equal(session.stdout, 'through the flood\n');

    // The hub wrote a row per request the appliance answered, none for the ones it refused itself.
    const hubRefusals = (await hubAudit()).filter(
      (e) => e.action === 'session.refused' && e.actor === 'user:flooder',
    );
    assert.equal(hubRefusals.length, 10);
  });

  test('past its share of unfinished uploads a station waits; the agent keeps the file and sends it later', async () => {
    const read = (name: string) => readFileSync(join(cluster.agentDir, name), 'utf8');
    const station = await connectTo(cluster.stationPort, {
      ca: read('hub-ca.pem'),
      cert: read('station.pem'),
      key: read('station-key.pem'),
    });
    try {
      // A problem the hub knows, to hang uploads on.
      const opened = await cluster.cli([
        'agent',
        'problem',
        'open',
        '--summary',
        'Controller dump',
        '--severity',
        'minor',
        '--data',
        cluster.agentDir,
      ]);
      const localId = /Problem (PB-[0-9A-Z]{6})/.exec(opened.stdout)?.[1] ?? '';
      const hubDb = new Database(join(cluster.hubDir, 'hub.db'), { readonly: true });
      try {
        await waitFor('the problem at the hub', () =>
          hubDb.prepare('select number from problems where local_id = ?').get(localId),
        );
      } finally {
        hubDb.close();
      }
      // The station (with its own certificate) starts two uploads and sends nothing yet.
      const content = (i: number) => Buffer.from(`earlier upload ${i}\n`);
      const start = (id: string, bytes: number, sha: string) =>
        request(station, 'POST', '/v1/attachments', {
          body: JSON.stringify({
            id,
            problemLocalId: localId,
            name: 'early.bin',
            bytes,
            sha256: sha,
            chunkBytes: minChunkBytes,
          }),
        });
      const earlier = [0, 1].map(() => randomBytes(16).toString('hex'));
      for (const [i, id] of earlier.entries())
        assert.equal((await start(id, content(i).length, sha256(content(i)))).status, 201);

      // The agent's upload is the third: refused, kept, and shown with the reason.
      const file = join(cluster.root, 'dump.bin');
      writeFileSync(file, randomBytes(100_000));
      const staged = await cluster.cli([
        'agent',
        'problem',
        'update',
        localId,
        '--note',
        'dump attached',
        '--attach',
        file,
        '--no-follow',
        '--data',
        cluster.agentDir,
      ]);
      assert.match(staged.stdout, /update accepted/);
      interface AttachmentJson {
        id: string;
        state: string;
        lastError: string | null;
        sha256: string;
      }
      const attachments = async () =>
        JSON.parse(
          (await cluster.cli(['agent', 'attachments', '--json', '--data', cluster.agentDir])).stdout,
        ) as AttachmentJson[];
      const waiting = await waitFor('the refused upload', async () =>
        (await attachments()).find((a) => a.lastError?.includes('API_LIMIT_REACHED')),
      );
      assert.equal(waiting.state, 'staged', 'a refusal of the share is never a failure');
      assert.match(
        waiting.lastError ?? '',
        /^start: station ST-\S+ has 2 unfinished uploads, as many as one station may \(hub\.yaml shares\.perStation\.uploads\): the appliance keeps the file and sends it once earlier uploads complete \(API_LIMIT_REACHED\)$/,
      );
      const table = await cluster.cli(['agent', 'attachments', '--data', cluster.agentDir]);
      assert.match(table.stdout, /shares\.perStation\.uploads/);

      // The earlier uploads complete: the agent's goes through by itself.
      for (const [i, id] of earlier.entries()) {
        const bytes = content(i);
        const chunk = await request(station, 'PUT', `/v1/attachments/${id}/chunks/0`, {
          body: bytes,
          headers: {
            'content-type': 'application/octet-stream',
            [manifestHeader]: encodeManifest(
              buildManifest(bytes, { kind: 'attachment.chunk', id, contains: 'the whole file' }),
            ),
          },
        });
        assert.equal(chunk.status, 200, JSON.stringify(chunk.json));
        assert.equal((await request(station, 'POST', `/v1/attachments/${id}/complete`)).status, 200);
      }
      const sent = await waitFor(
        'the upload to go through',
        async () => (await attachments()).find((a) => a.id === waiting.id && a.state === 'uploaded'),
        60_000,
        250,
      );
      assert.equal(sent.sha256, sha256(readFileSync(file)));
      uploadedId = sent.id;

      // The announced sizes count too: one 64 GiB upload leaves no room for another byte.
      const big = await start(randomBytes(16).toString('hex'), maxAttachmentBytes, 'a'.repeat(64));
      assert.equal(big.status, 201);
      const over = await start(randomBytes(16).toString('hex'), 1024, 'b'.repeat(64));
      assert.equal(over.status, 429);
      assert.equal(over.json.code, 'API_LIMIT_REACHED');
      assert.match(
        String(over.json.message),
        /has 64 GiB of unfinished uploads announced; this one \(1 KiB\) would pass the 64 GiB one station may have pending \(hub\.yaml shares\.perStation\.uploadPendingGb\)/,
      );
    } finally {
      station.close();
    }
  });

  test("the appliance's audit rows for the flood stay bounded, with a summary carrying the count; verify passes", async () => {
    // The interval (8 s, from the flood's first attempt) ends without another attempt: the
    // summaries come from its timer.
    const adminAudit = async () =>
      ((await cluster.admin('GET', '/v1/audit?limit=10000')) as { entries: AuditJson[] }).entries;
    await waitFor(
      'the refusal summaries',
      async () => (await adminAudit()).filter((e) => e.action === 'session.refused-summary').length === 2,
      20_000,
      100,
    );
    const audit = await agentAudit();
    for (const technician of ['flooder', 'flooder2']) {
      const rows = audit.filter((e) => e.actor === `technician:${technician}`);
      assert.deepEqual(
        rows.map((e) => e.action),
        [
          'access-request.created',
          'session.refused',
          'session.refused',
          'session.refused',
          'session.refused-summary',
        ],
      );
      const summary = rows.at(-1);
      assert.deepEqual(
        { count: summary?.detail.count, codes: summary?.detail.codes, audited: summary?.detail.audited },
        { count: 7, codes: { API_LIMIT_REACHED: 4, POLICY_PENDING_APPROVAL: 3 }, audited: 3 },
      );
    }
    const verified = await runCli(['agent', 'audit', '--verify', '--data', cluster.agentDir]);
    assert.equal(verified.code, 0, verified.stderr + verified.stdout);
    // Every refusal is still counted per technician.
    const refusals = (await cluster.admin('GET', '/v1/refusals')) as {
      refusals: { technician: string; count: number }[];
    };
    assert.deepEqual(
      refusals.refusals.filter((r) => r.technician.startsWith('flooder')).map((r) => r.count),
      [10, 10],
    );
  });

  test('a user holding every download link one user may is refused with when to try again; another still gets one', async () => {
    assert.ok(uploadedId, 'needs the upload of the previous test');
    const viewer = tokenOf(env.viewer ?? {});
    const link = (token: string) =>
      request(api, 'POST', `/v1/attachments/${uploadedId}/download-link`, { token, body: '{}' });
    for (let i = 0; i < 2; i++) assert.equal((await link(viewer)).status, 200);
    const refused = await link(viewer);
    assert.equal(refused.status, 429);
    assert.equal(refused.json.code, 'API_LIMIT_REACHED');
    assert.match(
      String(refused.json.message),
      /^user viewer holds 2 unused download links, as many as one user may \(hub\.yaml shares\.perUser\.downloadLinks\): use them, or try again in \d+ s when the oldest expires$/,
    );
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${String(refused.headers['retry-after'])}`);
    assert.equal(refused.json.retryAfterSeconds, retryAfter);
    // Another user's link works, and carries the file.
    const other = await link(tokenOf(env.tech ?? {}));
    assert.equal(other.status, 200);
    const download = api.request({ ':method': 'GET', ':path': String(other.json.url) });
    const [headers] = (await once(download, 'response')) as [Answer['headers']];
    assert.equal(Number(headers[':status']), 200);
    const chunks: Buffer[] = [];
    for await (const chunk of download) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).length, 100_000);
  });

  test('failed logins from one address never lock the user out from another address', async () => {
    await cluster.addUser('target', 'target-password-1');
    const attacker = await connectTo(cluster.apiPort, { ca: hubCa, localAddress: '127.0.0.2' });
    try {
      const login = (session: ClientHttp2Session, password: string) =>
        request(session, 'POST', '/v1/login', { body: JSON.stringify({ user: 'target', password }) });
      // Bounded: the attacker is held back after two failures, for the user and from its address.
      const answers: Answer[] = [];
      for (let i = 0; i < 6; i++) answers.push(await login(attacker, `guess-${i}`));
      assert.deepEqual(
        answers.map((a) => a.status),
        [401, 401, 429, 429, 429, 429],
      );
      assert.match(
        String(answers[2]?.json.message),
        /^too many failed logins for user target, some of them from 127\.0\.0\.2: try again from there in \d+ s$/,
      );
      // Even the right password, from there.
      const held = await login(attacker, 'target-password-1');
      assert.equal(held.status, 429);
      assert.equal(held.json.code, 'AUTH_RATE_LIMITED');
      assert.ok(Number(held.headers['retry-after']) > 800, String(held.headers['retry-after']));

      // The real user, from 127.0.0.1 where nothing failed, with the CLI: in.
      const home = { LIFELINE_HOME: join(cluster.root, 'home-target') };
      const real = await runCli(
        [
          'login',
          '--hub',
          cluster.hubUrl,
          '--user',
          'target',
          '--password-stdin',
          '--ca-file',
          join(cluster.hubDir, 'ca.pem'),
        ],
        { input: 'target-password-1\n', env: home },
      );
      assert.equal(real.code, 0, real.stderr);
      assert.match(real.stdout, /Logged in to .* as target/);
      const stations = await runCli(['stations', '--json'], { env: home });
      assert.equal(stations.code, 0, stations.stderr);
    } finally {
      attacker.close();
    }
  });

  test('/metrics counts the refusals of every limit, on the hub and on the appliance', async () => {
    const scrape = readFileSync(join(cluster.hubDir, 'metrics-token'), 'utf8').trim();
    const text = await new Promise<string>((resolve, reject) => {
      const stream = api.request({
        ':method': 'GET',
        ':path': '/metrics',
        authorization: `Bearer ${scrape}`,
      });
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (body += chunk));
      stream.once('end', () => resolve(body));
      stream.once('error', reject);
    });
    const count = (limit: string) =>
      Number(
        new RegExp(`^lifeline_hub_limit_refusals_total\\{limit="${limit}"\\} (\\d+)$`, 'm').exec(text)?.[1] ??
          0,
      );
    assert.deepEqual(
      ['feed-streams', 'session-requests', 'uploads', 'upload-bytes', 'download-links', 'login-user'].map(
        (limit) => [limit, count(limit) > 0],
      ),
      ['feed-streams', 'session-requests', 'uploads', 'upload-bytes', 'download-links', 'login-user'].map(
        (limit) => [limit, true],
      ),
    );
    assert.equal(count('session-requests'), 9, '4 refused probes of each flooder and the CLI');
    const agentToken = readFileSync(join(cluster.agentDir, 'admin-token'), 'utf8').trim();
    const agentText = await (
      await fetch(`http://127.0.0.1:${cluster.adminPort}/metrics`, {
        headers: { authorization: `Bearer ${agentToken}` },
      })
    ).text();
    assert.match(agentText, /^lifeline_agent_limit_refusals_total\{limit="session-attempts"\} 8$/m);
    assert.match(
      agentText,
      /^lifeline_agent_refusals_total\{kind="session",reason="API_LIMIT_REACHED"\} 8$/m,
      'the summarised refusals are counted as refusals too',
    );
  });
});
