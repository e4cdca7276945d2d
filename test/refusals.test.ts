// Everything that must be refused is refused with a clear message and leaves an audit line:
// on the hub (logins, group, enrollment tokens, foreign certificates, bad Station IDs) and on the
// agent (unknown services, addresses in any spelling).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as h2connect } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { CliProcess, Cluster, freePort, runCli, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

interface AuditLine {
  actor: string;
  action: string;
  stationId?: string | null;
  detail: Record<string, unknown>;
}

describe('refusals', () => {
  let cluster: Cluster;
  let echo: EchoServer;

  const hubAudit = async (): Promise<AuditLine[]> =>
    JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as AuditLine[];
  const agentAudit = async (): Promise<AuditLine[]> =>
    JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as AuditLine[];
  const connectStdio = (service: string, env = cluster.techEnv, station = cluster.stationId) =>
    runCli(['connect', station, '--service', service, '--stdio'], { env, input: 'x' });

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start();
    await cluster.addService('echo', echo.port);
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('a wrong password', async () => {
    const result = await cluster.login('tech', 'not-the-password');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /wrong user name or password \(AUTH_INVALID\)/);
    assert.doesNotMatch(result.stderr + result.stdout, /not-the-password/);
    const audit = await hubAudit();
    assert.ok(
      audit.some(
        (e) => e.action === 'login.refused' && e.actor === 'user:tech' && e.detail.code === 'AUTH_INVALID',
      ),
    );
    assert.doesNotMatch(JSON.stringify(audit), /not-the-password/);
  });

  test('a user outside the authorized group', async () => {
    const env = await cluster.technician('visitor', 'visitor-password', 'auditors');
    const result = await connectStdio('echo', env);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /may not open service sessions: only members of the group technicians may \(AUTH_NOT_AUTHORIZED\)/,
    );
    const audit = await hubAudit();
    assert.ok(
      audit.some(
        (e) =>
          e.action === 'session.refused' &&
          e.actor === 'user:visitor' &&
          e.detail.code === 'AUTH_NOT_AUTHORIZED',
      ),
    );
  });

  test('a reused enrollment token', async () => {
    const token = await cluster.createToken();
    const first = await runCli([
      'agent',
      'enroll',
      '--data',
      join(cluster.root, 'reuse-a'),
      '--token-file',
      token,
    ]);
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli([
      'agent',
      'enroll',
      '--data',
      join(cluster.root, 'reuse-b'),
      '--token-file',
      token,
    ]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already used.*\(ENROLL_TOKEN_USED\)/);
    assert.ok(
      (await hubAudit()).some((e) => e.action === 'enroll.refused' && e.detail.code === 'ENROLL_TOKEN_USED'),
    );
  });

  test('an expired enrollment token', async () => {
    const token = await cluster.createToken('1s');
    // Counted from when the command had made the token: its start-up time must not eat the wait.
    const createdBy = Date.now();
    await waitFor('the token to expire', () => (Date.now() > createdBy + 1500 ? true : undefined), 5000);
    const result = await runCli([
      'agent',
      'enroll',
      '--data',
      join(cluster.root, 'late'),
      '--token-file',
      token,
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /expired.*\(ENROLL_TOKEN_EXPIRED\)/);
    assert.ok(
      (await hubAudit()).some(
        (e) => e.action === 'enroll.refused' && e.detail.code === 'ENROLL_TOKEN_EXPIRED',
      ),
    );
  });

  test('a damaged enrollment token', async () => {
    const file = join(cluster.root, 'damaged-token');
    writeFileSync(file, 'LLE1.bm90IGEgdG9rZW4');
    const result = await runCli([
      'agent',
      'enroll',
      '--data',
      join(cluster.root, 'damaged'),
      '--token-file',
      file,
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /not a Lifeline enrollment token.*\(ENROLL_TOKEN_INVALID\)/);
  });

  test('a station certificate from another CA', async () => {
    // A second hub enrolls a station; that station then dials the first hub, trusting its CA.
    const other = new Cluster();
    try {
      await other.initHub();
      await other.startHub();
      const foreignDir = join(cluster.root, 'foreign-agent');
      const token = await other.createToken();
      await other.cli(['agent', 'enroll', '--data', foreignDir, '--token-file', token]);
      await other.stopHub();
      writeFileSync(
        join(foreignDir, 'agent.yaml'),
        `hub:\n  endpoints: ["127.0.0.1:${cluster.stationPort}"]\nadmin:\n  listen: 127.0.0.1:${await freePort()}\n`,
      );
      copyFileSync(join(cluster.hubDir, 'ca.pem'), join(foreignDir, 'hub-ca.pem'));
      const agent = cluster.track(new CliProcess(['agent', 'start', '--data', foreignDir]));
      const adminToken = () => readFileSync(join(foreignDir, 'admin-token'), 'utf8').trim();
      await waitFor('the foreign agent', async () => {
        const runtime = JSON.parse(readFileSync(join(foreignDir, 'agent.run.json'), 'utf8')) as {
          adminUrl: string;
        };
        const response = await fetch(`${runtime.adminUrl}/v1/remote`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${adminToken()}`, 'content-type': 'application/json' },
          body: JSON.stringify({ enabled: true }),
        });
        return response.ok ? true : undefined;
      });
      const status = await waitFor('the refusal to reach the agent', async () => {
        const result = await runCli(['agent', 'status', '--json', '--data', foreignDir]);
        const parsed = JSON.parse(result.stdout) as { tunnel: { state: string; lastError: string | null } };
        return parsed.tunnel.lastError?.includes('not issued by this hub') ? parsed : undefined;
      });
      assert.notEqual(status.tunnel.state, 'connected');
      await agent.stop();
      const audit = await hubAudit();
      assert.ok(audit.some((e) => e.action === 'tunnel.refused' && e.detail.code === 'TUNNEL_CERT_REJECTED'));
    } finally {
      await other.close();
    }
  });

  test('a service name the agent does not have', async () => {
    const result = await connectStdio('nope');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /this appliance has no service named "nope" \(POLICY_SERVICE_UNKNOWN\)/);
    assert.ok(
      (await agentAudit()).some(
        (e) =>
          e.action === 'session.refused' &&
          e.detail.code === 'POLICY_SERVICE_UNKNOWN' &&
          e.detail.service === 'nope',
      ),
    );
  });

  test('addresses in any spelling are refused before any socket opens', async () => {
    for (const target of [
      '2130706433',
      '0x7f.1',
      '127.1',
      '0',
      '::ffff:127.0.0.1',
      '127.0.0.1:22',
      'example.com',
      '[::1]',
    ]) {
      const result = await connectStdio(target);
      assert.equal(result.code, 1, target);
      assert.match(result.stderr, /is not a service name.*\(POLICY_TARGET_INVALID\)/, target);
    }
    const refused = (await agentAudit()).filter(
      (e) => e.action === 'session.refused' && e.detail.code === 'POLICY_TARGET_INVALID',
    );
    assert.ok(refused.length >= 8);
    assert.equal(echo.sockets.size, 0);
  });

  test('a checksum-invalid Station ID', async () => {
    const bad = cluster.stationId.slice(0, -1) + (cluster.stationId.endsWith('0') ? '1' : '0');
    const result = await connectStdio('echo', cluster.techEnv, bad);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /check symbol does not match.*\(STATION_ID_INVALID\)/);
    // Sent to the hub anyway (another client), it is refused there and audited.
    const credentials = JSON.parse(readFileSync(join(cluster.techHome, 'credentials.json'), 'utf8')) as {
      token: string;
      caPem: string;
    };
    const session = h2connect(cluster.hubUrl, { ca: credentials.caPem });
    try {
      const status = await new Promise<number>((done, fail) => {
        session.once('remoteSettings', () => {
          const stream = session.request({
            ':method': 'CONNECT',
            ':protocol': 'lifeline-session/1',
            ':scheme': 'https',
            ':path': `/v1/stations/${bad}/connect?service=echo`,
            authorization: `Bearer ${credentials.token}`,
          });
          stream.once('response', (headers) => done(Number(headers[':status'])));
          stream.once('error', fail);
          stream.resume();
        });
      });
      assert.equal(status, 400);
    } finally {
      session.close();
    }
    assert.ok(
      (await hubAudit()).some(
        (e) => e.action === 'session.refused' && e.detail.code === 'STATION_ID_INVALID',
      ),
    );
  });

  test('an HTTP/1.1 CONNECT to the technician API is refused and the hub stays up', async () => {
    const ca = readFileSync(join(cluster.hubDir, 'ca.pem'), 'utf8');
    const reply = await new Promise<string>((done, fail) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: cluster.apiPort,
        ca,
        ALPNProtocols: ['http/1.1'],
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.once('secureConnect', () =>
        socket.write(`CONNECT 127.0.0.1:22 HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`),
      );
      socket.once('close', () => done(text));
      socket.once('error', fail);
    });
    assert.match(reply, /^HTTP\/1\.1 405/);
    const stations = await runCli(['stations', '--json'], { env: cluster.techEnv });
    assert.equal(stations.code, 0, stations.stderr);
  });
});
