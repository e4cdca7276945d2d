// The station certificate's life, from outside: renewal at half its life without dropping the
// tunnel, renewal after it expired while the hub was away (or the order to re-enroll), and
// revocation, which ends the tunnel within 2 s and refuses reconnects, renewal and call home.

// reflect-metadata must be loaded before @peculiar/x509 (it uses tsyringe).
import 'reflect-metadata';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { connect as h2connect } from 'node:http2';
import { webcrypto } from 'node:crypto';
import { get as httpsGet } from 'node:https';
import { X509Certificate, X509Crl } from '@peculiar/x509';
import { createKeyAndCsr, signStationCsr } from '../../src/pki/index.js';
import { alpnCallHome } from '../../src/protocol/index.js';
import { Cluster, runCli, waitFor } from '../harness/cluster.js';
import { startEchoServer, type EchoServer } from '../harness/echo-server.js';

interface StationRow {
  stationId: string;
  state: string;
  certNotAfterMs: number;
  connectedSince: string | null;
  revokedAt: string | null;
}

interface CertificateJson {
  state: string;
  notAfterMs: number;
  summary: string;
}

interface StatusJson {
  tunnel: { state: string; sinceMs: number; lastError: string | null };
  certificate: CertificateJson | null;
}

async function stationList(cluster: Cluster): Promise<StationRow[]> {
  const result = await cluster.cli(['hub', 'station', 'list', '--json', '--data', cluster.hubDir]);
  return JSON.parse(result.stdout) as StationRow[];
}

async function status(cluster: Cluster): Promise<StatusJson> {
  return (await cluster.agentStatus()) as unknown as StatusJson;
}

async function audit(
  cluster: Cluster,
  who: 'agent' | 'hub',
): Promise<{ action: string; detail: Record<string, unknown> }[]> {
  const args =
    who === 'agent'
      ? ['agent', 'audit', '--json', '--data', cluster.agentDir]
      : ['hub', 'audit', '--json', '--data', cluster.hubDir];
  return JSON.parse((await cluster.cli(args)).stdout) as {
    action: string;
    detail: Record<string, unknown>;
  }[];
}

function setHubYaml(cluster: Cluster, key: string, value: string): void {
  const path = join(cluster.hubDir, 'hub.yaml');
  const yaml = readFileSync(path, 'utf8');
  const line = new RegExp(`^${key}:.*$`, 'm');
  writeFileSync(path, line.test(yaml) ? yaml.replace(line, `${key}: ${value}`) : `${yaml}${key}: ${value}\n`);
}

/** Hub, technician, enrolled agent with remote service on and an echo service; the hub configured first. */
async function startCluster(echo: EchoServer, hubYaml: Record<string, string>): Promise<Cluster> {
  const cluster = new Cluster();
  await cluster.initHub();
  for (const [key, value] of Object.entries(hubYaml)) setHubYaml(cluster, key, value);
  await cluster.startHub();
  await cluster.addUser('tech', 'tech-password-1');
  await cluster.enroll();
  await cluster.addService('echo', echo.port);
  await cluster.startAgent();
  await cluster.cli(['agent', 'access', 'full', '--data', cluster.agentDir]);
  await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
  await cluster.waitForTunnel();
  const login = await cluster.login('tech', 'tech-password-1');
  assert.equal(login.code, 0, login.stderr);
  return cluster;
}

async function echoSession(cluster: Cluster, text: string): Promise<void> {
  const result = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
    env: cluster.techEnv,
    input: text,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, text);
}

/** A call-home request made as the agent makes it: HTTP/2 over mutual TLS with the station's files. */
async function callHome(
  cluster: Cluster,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: { code?: string; message?: string } }> {
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
        servername: 'localhost',
      }),
  });
  try {
    return await new Promise((resolve, reject) => {
      session.once('error', reject);
      const stream = session.request({
        ':method': method,
        ':path': path,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      });
      let statusCode = 0;
      let text = '';
      stream.on('response', (headers) => (statusCode = Number(headers[':status'])));
      stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
      stream.once('error', reject);
      stream.once('close', () =>
        resolve({ status: statusCode, json: JSON.parse(text || '{}') as { code?: string } }),
      );
      stream.end(body === undefined ? undefined : JSON.stringify(body));
    });
  } finally {
    session.close();
  }
}

/** Replaces the agent's certificate with one the hub CA signed `expiredAgoMs` ago for 60 s. */
async function installExpiredCertificate(cluster: Cluster, expiredAgoMs: number): Promise<number> {
  const hubRead = (name: string) => readFileSync(join(cluster.hubDir, name), 'utf8');
  const ca = { certPem: hubRead('ca.pem'), keyPem: hubRead('ca-key.pem') };
  const { keyPem, csrPem } = await createKeyAndCsr(cluster.stationId);
  const issuedAtMs = Date.now() - expiredAgoMs - 60_000;
  const certPem = await signStationCsr(ca, csrPem, cluster.stationId, 60_000, issuedAtMs);
  writeFileSync(join(cluster.agentDir, 'station-key.pem'), keyPem, { mode: 0o600 });
  writeFileSync(join(cluster.agentDir, 'station.pem'), certPem, { mode: 0o600 });
  return issuedAtMs + 60_000;
}

describe('certificate renewal and revocation', () => {
  let echo: EchoServer;
  let cluster: Cluster;

  before(async () => {
    echo = await startEchoServer();
    cluster = await startCluster(echo, { stationCertValidity: '60s' });
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('a 60 s certificate is renewed at half its life, past its expiry, without dropping the tunnel', async () => {
    const first = (await stationList(cluster))[0];
    assert.ok(first);
    const firstNotAfterMs = first.certNotAfterMs;
    assert.ok(firstNotAfterMs - Date.now() <= 60_000, 'the hub issued a 60 s certificate');
    const before = await status(cluster);
    assert.equal(before.tunnel.state, 'connected');
    assert.equal(before.certificate?.state, 'valid');

    // Past the first certificate's expiry (at least one renewal happened on the way).
    await waitFor(
      'the first certificate to have expired',
      () => (Date.now() > firstNotAfterMs + 1000 ? true : undefined),
      70_000,
      500,
    );
    const afterExpiry = await status(cluster);
    assert.equal(afterExpiry.tunnel.state, 'connected');
    assert.equal(afterExpiry.tunnel.sinceMs, before.tunnel.sinceMs, 'the tunnel was never redialled');
    assert.ok(afterExpiry.certificate && afterExpiry.certificate.notAfterMs > Date.now());
    const now = (await stationList(cluster))[0];
    assert.ok(now && now.certNotAfterMs > firstNotAfterMs, 'the hub recorded the renewed expiry');
    assert.equal(now.state, 'online');
    assert.equal(now.connectedSince, first.connectedSince, 'the hub saw no new tunnel');

    const agentAudit = await audit(cluster, 'agent');
    const renewals = agentAudit.filter((e) => e.action === 'station.cert.renewed');
    assert.ok(renewals.length >= 1, 'the agent audited its renewal');
    assert.match(String(renewals[0]?.detail.notAfter), /^\d{4}-/);
    const hubAudit = await audit(cluster, 'hub');
    assert.ok(hubAudit.some((e) => e.action === 'station.renewed'));
    assert.ok(!hubAudit.some((e) => e.action === 'tunnel.disconnected'));

    // The renewed certificate signs the audit checkpoints the hub accepts, and sessions work.
    await echoSession(cluster, 'after renewal\n');
  });

  test('a revoked station is disconnected within 2 s, then refused on reconnect, renewal and call home', async () => {
    assert.equal((await status(cluster)).tunnel.state, 'connected');
    // Watched from before the command runs, so the CLI's own start-up is not counted against the hub.
    const tunnelGone = waitFor(
      'the tunnel to drop',
      async () => ((await status(cluster)).tunnel.state !== 'connected' ? Date.now() : undefined),
      15_000,
      50,
    );
    await cluster.cli(['hub', 'station', 'revoke', cluster.stationId, '--data', cluster.hubDir]);
    const revokedAtMs = Date.parse(String((await stationList(cluster))[0]?.revokedAt));
    const goneAtMs = await tunnelGone;
    const goneAfterMs = goneAtMs - revokedAtMs;
    assert.ok(goneAfterMs <= 2000, `the tunnel was gone ${goneAfterMs} ms after the revocation`);

    // The agent redials and is refused, with the hub's reason (the first lastError may still be the
    // GOAWAY of the revocation itself, which names the same reason).
    await waitFor(
      'a refused reconnect',
      async () =>
        (await audit(cluster, 'hub')).some(
          (e) => e.action === 'tunnel.refused' && e.detail.reason === 'this station is revoked',
        )
          ? true
          : undefined,
      30_000,
      500,
    );
    assert.match((await status(cluster)).tunnel.lastError ?? '', /this station is revoked/);
    assert.ok((await audit(cluster, 'hub')).some((e) => e.action === 'station.revoke'));
    assert.equal((await stationList(cluster))[0]?.state, 'revoked');

    // Renewal and call home with the station's own certificate and key are refused.
    const { csrPem } = await createKeyAndCsr(cluster.stationId);
    const renewal = await callHome(cluster, 'POST', '/v1/certificate/renew', { csr: csrPem });
    assert.equal(renewal.status, 403);
    assert.equal(renewal.json.code, 'STATION_REVOKED');
    const ping = await callHome(cluster, 'GET', '/v1/ping');
    assert.equal(ping.json.code, 'STATION_REVOKED');
    const trust = await callHome(cluster, 'GET', '/v1/trust');
    assert.equal(trust.json.code, 'STATION_REVOKED');
    assert.ok((await audit(cluster, 'hub')).some((e) => e.action === 'station.renewal.refused'));

    // The hub's CRL (GET /v1/ca.crl, no authentication) lists the station's current certificate.
    const caPem = readFileSync(join(cluster.hubDir, 'ca.pem'), 'utf8');
    const crl = new X509Crl(await fetchCrl(`${cluster.hubUrl}/v1/ca.crl`, caPem));
    assert.ok(await crl.verify({ publicKey: new X509Certificate(caPem) }, webcrypto));
    const stationCert = new X509Certificate(readFileSync(join(cluster.agentDir, 'station.pem'), 'utf8'));
    assert.ok(crl.findRevoked(stationCert), 'the CRL lists the revoked station certificate');
  });
});

function fetchCrl(url: string, caPem: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const request = httpsGet(url, { ca: caPem }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () => {
        const type = response.headers['content-type'];
        if (response.statusCode === 200 && type === 'application/pkix-crl') resolve(Buffer.concat(chunks));
        else reject(new Error(`GET ${url} answered ${response.statusCode} ${type}`));
      });
    });
    request.once('error', reject);
  });
}

describe('a certificate that expired while the hub was away', () => {
  let echo: EchoServer;
  let cluster: Cluster;

  before(async () => {
    echo = await startEchoServer();
    cluster = await startCluster(echo, { renewalGrace: '1h' });
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('is not used for the tunnel, and is renewed when the hub is back', async () => {
    await cluster.stopAgent();
    await cluster.stopHub();
    const expiredAtMs = await installExpiredCertificate(cluster, 5 * 60_000);
    await cluster.startAgent();
    const waiting = await waitFor('the agent to see its certificate expired', async () => {
      const s = await status(cluster);
      return s.certificate?.state === 'expired' ? s : undefined;
    });
    // X.509 times have whole seconds.
    assert.equal(waiting.certificate?.notAfterMs, Math.floor(expiredAtMs / 1000) * 1000);
    assert.match(waiting.certificate?.summary ?? '', /expired .*, renewing when the hub is reachable/);
    assert.notEqual(waiting.tunnel.state, 'connected');

    await cluster.startHub();
    const renewed = await waitFor(
      'renewal and a tunnel',
      async () => {
        const s = await status(cluster);
        return s.certificate?.state === 'valid' && s.tunnel.state === 'connected' ? s : undefined;
      },
      30_000,
    );
    assert.ok((renewed.certificate?.notAfterMs ?? 0) > Date.now());
    const hubAudit = await audit(cluster, 'hub');
    const renewal = hubAudit.find((e) => e.action === 'station.renewed');
    assert.equal(renewal?.detail.renewedAfterExpiry, true);
    // A tunnel refused for an expired certificate would show here: the agent did not dial with it.
    assert.ok(!hubAudit.some((e) => e.action === 'tunnel.refused'));
    await echoSession(cluster, 'renewed after expiry\n');
  });

  test('longer ago than renewalGrace: the agent is told to re-enroll', async () => {
    await cluster.stopAgent();
    await installExpiredCertificate(cluster, 2 * 3600_000);
    await cluster.startAgent();
    const refused = await waitFor(
      'the re-enroll answer',
      async () => {
        const s = await status(cluster);
        return s.certificate?.state === 'reenroll' ? s : undefined;
      },
      30_000,
    );
    assert.match(refused.certificate?.summary ?? '', /enroll this station again with a new token/);
    const agentAudit = await audit(cluster, 'agent');
    assert.ok(
      agentAudit.some(
        (e) => e.action === 'station.cert.renewal.refused' && e.detail.code === 'STATION_REENROLL',
      ),
    );
    // Every other route still needs a valid certificate.
    const ping = await callHome(cluster, 'GET', '/v1/ping');
    assert.equal(ping.json.code, 'STATION_CERT_EXPIRED');
  });
});
