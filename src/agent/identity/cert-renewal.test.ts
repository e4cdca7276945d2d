import { afterEach, beforeEach, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createLogger } from '../../common/logger.js';
import { LifelineError } from '../../common/errors.js';
import {
  createCa,
  createKeyAndCsr,
  createTicketKeyPair,
  issueServerCert,
  signStationCsr,
  TicketVerifier,
  type KeyAndCert,
} from '../../pki/index.js';
import { alpnCallHome } from '../../protocol/index.js';
import { HubDialer } from '../link/index.js';
import { CertificateRenewal, renewalDueAtMs, type RenewAnswer } from './cert-renewal.js';
import { StationCredentials } from './station-credentials.js';
import { TrustBundlePinner } from './trust-bundle.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const stationId = 'ST-7KQ3-9XPM-4';
let dir: string;
let ca: KeyAndCert;
let paths: { stationKey: string; stationCert: string; hubCa: string; hubTicketKey: string };
let ticketPublicKeyPem: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lifeline-renewal-'));
  ca = await createCa('hub', 24 * 3600_000);
  const { keyPem, csrPem } = await createKeyAndCsr(stationId);
  paths = {
    stationKey: join(dir, 'station-key.pem'),
    stationCert: join(dir, 'station.pem'),
    hubCa: join(dir, 'hub-ca.pem'),
    hubTicketKey: join(dir, 'hub-ticket-key.pem'),
  };
  ticketPublicKeyPem = createTicketKeyPair().publicKeyPem;
  writeFileSync(paths.stationKey, keyPem, { mode: 0o600 });
  writeFileSync(paths.stationCert, await signStationCsr(ca, csrPem, stationId, 60_000));
  writeFileSync(paths.hubCa, ca.certPem);
  writeFileSync(paths.hubTicketKey, ticketPublicKeyPem);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function renewal(
  credentials: StationCredentials,
  renew: (csr: string) => Promise<RenewAnswer>,
  records: string[],
  renewed: (answer: RenewAnswer) => Promise<void> = async () => undefined,
) {
  return new CertificateRenewal({
    stationId,
    credentials,
    paths,
    renew,
    renewed,
    record: async (action, detail) => {
      records.push(`${action} ${typeof detail.code === 'string' ? detail.code : ''}`.trim());
    },
    clock: { now: () => Date.now() },
    logger,
  });
}

const hubSigns = async (csr: string): Promise<RenewAnswer> => {
  const certPem = await signStationCsr(ca, csr, stationId, 120_000);
  const { X509Certificate } = await import('node:crypto');
  return {
    certPem,
    notAfterMs: Date.parse(new X509Certificate(certPem).validTo),
    trust: {
      caPem: ca.certPem,
      ticketPublicKeysPem: ticketPublicKeyPem,
      fixPublicKeyPem: '',
      overlapEndsAtMs: null,
    },
  };
};

test('renewal is due at half the certificate life', () => {
  assert.equal(renewalDueAtMs(1000, 61_000), 31_000);
});

test('a renewal writes a new key and certificate (0600), reloads the credentials and audits it', async () => {
  const credentials = new StationCredentials(paths);
  const before = credentials.current();
  const changed: number[] = [];
  credentials.on('changed', () => changed.push(1));
  const records: string[] = [];
  let renewedWith: RenewAnswer | undefined;
  const subject = renewal(credentials, hubSigns, records, async (answer) => {
    renewedWith = answer;
  });
  await subject.renewNow();
  const after = credentials.current();
  assert.notEqual(after.keyPem, before.keyPem);
  assert.equal(after.certPem, readFileSync(paths.stationCert, 'utf8'));
  assert.equal(statSync(paths.stationKey).mode & 0o777, 0o600);
  assert.equal(statSync(paths.stationCert).mode & 0o777, 0o600);
  assert.equal(changed.length, 1);
  assert.ok(credentials.notAfterMs > Date.now() + 100_000);
  assert.deepEqual(records, ['station.cert.renewed']);
  assert.equal(renewedWith?.certPem, after.certPem);
  const status = subject.status();
  assert.equal(status.state, 'valid');
  assert.ok((status.renewAtMs ?? 0) > Date.now());
  await subject.close();
});

test('a certificate for another key or station is refused and nothing is replaced', async () => {
  const credentials = new StationCredentials(paths);
  const before = credentials.current();
  const records: string[] = [];
  const otherKey = await createKeyAndCsr(stationId);
  const subject = renewal(credentials, () => hubSigns(otherKey.csrPem), records);
  await subject.renewNow();
  await subject.renewNow();
  assert.equal(credentials.current().keyPem, before.keyPem);
  // Audited once for the streak, however often it is retried.
  assert.deepEqual(records, ['station.cert.renewal.failed CERT_RENEWAL_FAILED']);
  assert.equal(subject.status().state, 'renewing');
  assert.match(subject.status().summary, /not for the key this agent made/);
  await subject.close();
});

test('a revoked station stops asking and is told to re-enroll', async () => {
  const credentials = new StationCredentials(paths);
  const records: string[] = [];
  const subject = renewal(
    credentials,
    () => Promise.reject(new LifelineError('STATION_REVOKED', 'station revoked')),
    records,
  );
  await subject.renewNow();
  assert.deepEqual(records, ['station.cert.renewal.refused STATION_REVOKED']);
  const status = subject.status();
  assert.equal(status.state, 'revoked');
  assert.equal(status.renewAtMs, null);
  assert.match(status.summary, /enroll it again with a new token/);
  await subject.close();
});

/** A TLS server on loopback with a certificate from `issuer` for `hosts`; closed with the test. */
async function tlsHub(t: TestContext, issuer: KeyAndCert, hosts: string[]): Promise<number> {
  const cert = await issueServerCert(issuer, hosts, 3600_000);
  const server = createTlsServer({ key: cert.keyPem, cert: cert.certPem, ALPNProtocols: [alpnCallHome] });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** Renewal over a real dial of `port` with the station's credentials (call home stops there). */
function renewThroughDial(credentials: StationCredentials, port: number) {
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${port}`],
    serverName: undefined,
    credentials: () => credentials.current(),
  });
  return async (): Promise<RenewAnswer> => {
    const { socket } = await dialer.dial(alpnCallHome);
    socket.destroy();
    throw new Error('the test hub answers no request');
  };
}

test('a hub the agent cannot verify any more (a missed CA rotation) means re-enrolling', async (t) => {
  const credentials = new StationCredentials(paths);
  const rotated = await createCa('hub after a rotation', 3600_000);
  const subject = renewal(
    credentials,
    renewThroughDial(credentials, await tlsHub(t, rotated, ['127.0.0.1'])),
    [],
  );
  await subject.renewNow();
  assert.equal(subject.status().state, 'reenroll');
  assert.match(subject.status().lastError ?? '', /not issued by the pinned hub CA/);
  assert.match(subject.status().summary, /rotated its CA .* enroll this station again/);
  await subject.close();
});

test('a hub certificate for another name is retried, not taken for a missed rotation', async (t) => {
  const credentials = new StationCredentials(paths);
  const subject = renewal(
    credentials,
    renewThroughDial(credentials, await tlsHub(t, ca, ['hub.example'])),
    [],
  );
  await subject.renewNow();
  assert.equal(subject.status().state, 'renewing');
  assert.match(subject.status().summary, /does not name this hub address/);
  await subject.close();
});

test('the trust bundle pins new CAs and ticket keys, and only when they changed', async () => {
  const credentials = new StationCredentials(paths);
  const oldKeys = createTicketKeyPair();
  const newKeys = createTicketKeyPair();
  writeFileSync(paths.hubTicketKey, oldKeys.publicKeyPem);
  const verifier = new TicketVerifier(oldKeys.publicKeyPem);
  const nextCa = await createCa('next', 3600_000);
  const records: string[] = [];
  const pinner = new TrustBundlePinner({
    paths,
    credentials,
    verifier,
    fetch: () => Promise.reject(new Error('unused')),
    record: async (action) => {
      records.push(action);
    },
    logger,
  });
  const bundle = {
    caPem: ca.certPem + nextCa.certPem,
    ticketPublicKeysPem: oldKeys.publicKeyPem + newKeys.publicKeyPem,
    fixPublicKeyPem: '',
    overlapEndsAtMs: 12345,
  };
  assert.equal(await pinner.pin(bundle), true);
  assert.equal(readFileSync(paths.hubCa, 'utf8'), bundle.caPem);
  assert.equal(credentials.current().caPem, bundle.caPem);
  assert.equal(readFileSync(paths.hubTicketKey, 'utf8'), bundle.ticketPublicKeysPem);
  assert.equal(pinner.overlapEndsAtMs, 12345);
  assert.equal(await pinner.pin(bundle), false);
  assert.deepEqual(records, ['trust.pinned']);
  await assert.rejects(pinner.pin({ ...bundle, caPem: 'nonsense' }), { code: 'CERT_RENEWAL_FAILED' });
  await assert.rejects(pinner.pin({ ...bundle, caPem: (await createKeyAndCsr('x')).csrPem + ca.certPem }), {
    code: 'CERT_RENEWAL_FAILED',
  });
});
