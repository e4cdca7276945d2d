// reflect-metadata must be loaded before @peculiar/x509 (it uses tsyringe).
import 'reflect-metadata';
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { hubPaths } from '../config.js';
import { initHub } from '../setup/index.js';
import {
  HubTrust,
  finishDueRotations,
  loadHubTrust,
  readRotationState,
  rotationPaths,
  startCaRotation,
  startTicketKeyRotation,
} from './trust-rotation.js';

let dir: string;
const day = 24 * 3600_000;

beforeEach(async () => {
  dir = join(mkdtempSync(join(tmpdir(), 'lifeline-rotation-')), 'hub');
  await initHub(dir, { listen: '127.0.0.1:9443', apiListen: '127.0.0.1:9444' });
});

afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

const subjectOf = (pem: string) => new X509Certificate(pem).subject;
/** The URLs a certificate names as CRL distribution points. */
const crlUrlsOf = (pem: string) => [
  ...(
    new x509.X509Certificate(pem).getExtension(x509.CRLDistributionPointsExtension)?.distributionPoints ?? []
  )
    .flatMap((point) => point.distributionPoint?.fullName ?? [])
    .map((name) => name.uniformResourceIdentifier),
];

test('without a rotation: one CA signs and is trusted, one ticket key', () => {
  const paths = hubPaths(dir);
  const trust = loadHubTrust(dir, paths, 'fix');
  assert.equal(trust.signingCa.certPem, readFileSync(paths.caCert, 'utf8'));
  assert.equal(trust.trustedCaPems.length, 1);
  assert.equal(trust.bundle.overlapEndsAtMs, null);
  assert.equal(trust.bundle.ticketPublicKeysPem, readFileSync(paths.ticketPublicKey, 'utf8'));
});

test('a CA rotation: both CAs trusted, the new one signs, the old server certificate served until the end', async () => {
  const paths = hubPaths(dir);
  const oldCa = readFileSync(paths.caCert, 'utf8');
  const oldServer = readFileSync(paths.serverCert, 'utf8');
  const { overlapEndsAtMs } = await startCaRotation(dir, paths, day, 1000, 'https://127.0.0.1:9444');
  assert.equal(overlapEndsAtMs, 1000 + day);
  await assert.rejects(startCaRotation(dir, paths, day, 2000), { code: 'CONFIG_EXISTS' });

  const during = loadHubTrust(dir, paths, 'fix');
  const newCa = readFileSync(rotationPaths(dir).caCert, 'utf8');
  assert.deepEqual(during.trustedCaPems, [oldCa, newCa]);
  assert.equal(during.signingCa.certPem, newCa);
  assert.equal(during.serverChainPem, oldServer + oldCa);
  assert.equal(during.bundle.caPem, oldCa + newCa);
  assert.equal(during.bundle.overlapEndsAtMs, overlapEndsAtMs);
  // The next server certificate names the same hosts and chains to the new CA.
  const nextServer = new X509Certificate(readFileSync(rotationPaths(dir).serverCert, 'utf8'));
  assert.equal(nextServer.subjectAltName, new X509Certificate(oldServer).subjectAltName);
  assert.ok(nextServer.checkIssued(new X509Certificate(newCa)));
  // Both name the CRL the technician API serves, signed by the CA of the served certificate.
  assert.deepEqual(crlUrlsOf(oldServer), ['https://127.0.0.1:9444/v1/ca.crl']);
  assert.deepEqual(crlUrlsOf(nextServer.toString()), ['https://127.0.0.1:9444/v1/ca.crl']);
  assert.equal(during.currentCa.certPem, oldCa);

  assert.deepEqual(finishDueRotations(dir, paths, overlapEndsAtMs - 1), []);
  assert.deepEqual(finishDueRotations(dir, paths, overlapEndsAtMs), ['ca']);
  const after = loadHubTrust(dir, paths, 'fix');
  assert.deepEqual(after.trustedCaPems, [newCa]);
  assert.equal(subjectOf(after.signingCa.certPem), subjectOf(newCa));
  assert.ok(
    new X509Certificate(readFileSync(paths.serverCert, 'utf8')).checkIssued(new X509Certificate(newCa)),
  );
  assert.equal(existsSync(rotationPaths(dir).caCert), false);
  assert.deepEqual(readRotationState(dir), {});
});

test('a ticket-key rotation: both keys pinned, the old one signs until the end', () => {
  const paths = hubPaths(dir);
  const oldPrivate = readFileSync(paths.ticketKey, 'utf8');
  const oldPublic = readFileSync(paths.ticketPublicKey, 'utf8');
  const { overlapEndsAtMs } = startTicketKeyRotation(dir, paths, 5000, 0);
  const during = loadHubTrust(dir, paths, 'fix');
  const newPublic = readFileSync(rotationPaths(dir).ticketPublicKey, 'utf8');
  assert.equal(during.ticketPrivateKeyPem, oldPrivate);
  assert.equal(during.bundle.ticketPublicKeysPem, oldPublic + newPublic);

  let now = 0;
  const changes: string[][] = [];
  const trust = new HubTrust({ dataDir: dir, paths, fixPublicKeyPem: 'fix', now: () => now });
  trust.onChange = (_material, ended) => changes.push(ended);
  assert.equal(trust.check(), false);
  now = overlapEndsAtMs;
  assert.equal(trust.check(), true);
  assert.deepEqual(changes, [['ticketKey']]);
  assert.notEqual(trust.material.ticketPrivateKeyPem, oldPrivate);
  assert.equal(trust.material.bundle.ticketPublicKeysPem, newPublic);
  assert.equal(trust.material.bundle.overlapEndsAtMs, null);
});

test('a rotation whose overlap ended while no hub ran is finished before the next one starts', async () => {
  const paths = hubPaths(dir);
  const first = startTicketKeyRotation(dir, paths, 1000, 0);
  const firstNewKey = readFileSync(rotationPaths(dir).ticketPublicKey, 'utf8');
  const second = startTicketKeyRotation(dir, paths, 1000, first.overlapEndsAtMs + 1);
  assert.equal(readFileSync(paths.ticketPublicKey, 'utf8'), firstNewKey);
  assert.equal(readRotationState(dir).ticketKey?.overlapEndsAtMs, second.overlapEndsAtMs);
});
