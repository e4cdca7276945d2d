// Enrollment: the agent trusts the hub on first contact through the CA pin in the token, makes
// its own key pair (the private key never leaves the appliance), sends a CSR and stores what the
// hub returns. Remote service is off afterwards.

import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import { connect as h2connect } from 'node:http2';
import { stringify as toYaml } from 'yaml';
import { LifelineError, isErrorCode } from '../common/errors.js';
import { writePrivateFile } from '../common/files.js';
import { parseHostPort } from '../common/host-port.js';
import { certSha256OfDer, createKeyAndCsr, derToPem } from '../pki/index.js';
import { alpnCallHome, decodeEnrollmentToken } from '../protocol/index.js';
import { AgentStore } from '../store/index.js';
import { settingKeys } from './agent.js';
import { agentPaths } from './config.js';

export interface EnrollResult {
  stationId: string;
  hub: string;
}

export async function enroll(options: {
  dataDir: string;
  tokenText: string;
  name?: string;
  onStep?: (step: string) => void;
}): Promise<EnrollResult> {
  const step = options.onStep ?? (() => undefined);
  const paths = agentPaths(options.dataDir);
  if (existsSync(paths.stationCert) || existsSync(paths.config)) {
    throw new LifelineError(
      'ENROLL_ALREADY_ENROLLED',
      `${options.dataDir} already holds an enrolled station; use an empty directory`,
    );
  }
  const token = decodeEnrollmentToken(options.tokenText);
  const { host, port } = parseHostPort(token.hub, 'hub address in the token');
  const servername = isIP(host) ? undefined : host;

  step(`contacting the hub at ${token.hub}`);
  const caPem = await fetchPinnedCa(host, port, servername, token.caSha256);

  step('creating the station key pair');
  const { keyPem, csrPem } = await createKeyAndCsr('lifeline-station');

  step('sending the certificate request');
  const response = await postJson(host, port, servername, caPem, '/v1/enroll', {
    secret: token.secret,
    csr: csrPem,
    name: options.name ?? hostname(),
  });
  const stationId = String(response.stationId);
  const certPem = String(response.certPem);
  const ticketKeyPem = String(response.ticketPublicKeyPem);
  // A hub from before fixes existed sends no fix key: then the agent refuses every fix.
  const fixKeyPem = typeof response.fixPublicKeyPem === 'string' ? response.fixPublicKeyPem : undefined;

  step('storing the station identity');
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  writePrivateFile(paths.stationKey, keyPem);
  writePrivateFile(paths.stationCert, certPem);
  writePrivateFile(paths.hubCa, caPem);
  writePrivateFile(paths.hubTicketKey, ticketKeyPem);
  if (fixKeyPem !== undefined) writePrivateFile(paths.hubFixKey, fixKeyPem);
  writePrivateFile(paths.adminToken, randomBytes(32).toString('base64url') + '\n');
  writePrivateFile(
    paths.config,
    '# Lifeline agent configuration. See docs/configuration.md.\n' +
      toYaml({ hub: { endpoints: [token.hub] }, admin: { listen: '127.0.0.1:8080' } }),
  );
  const store = await AgentStore.open(paths.database);
  try {
    await store.setSetting(settingKeys.stationId, stationId);
    await store.setSetting(settingKeys.remoteEnabled, false);
    await store.appendAudit({
      atMs: Date.now(),
      actor: 'admin@cli',
      action: 'enroll',
      detail: { stationId, hub: token.hub },
    });
  } finally {
    await store.close();
  }
  return { stationId, hub: token.hub };
}

/** First contact: accept the hub only if its chain holds the CA whose SHA-256 the token pins. */
function fetchPinnedCa(
  host: string,
  port: number,
  servername: string | undefined,
  pin: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port,
      servername,
      rejectUnauthorized: false,
      ALPNProtocols: [alpnCallHome],
      minVersion: 'TLSv1.3',
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timed out')));
    socket.once('secureConnect', () => {
      let cert: PeerCertificate | DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      while (cert && 'raw' in cert && cert.raw) {
        const fingerprint = certSha256OfDer(cert.raw);
        if (fingerprint === pin) {
          socket.end();
          resolve(derToPem(cert.raw));
          return;
        }
        if (seen.has(fingerprint)) break;
        seen.add(fingerprint);
        cert = 'issuerCertificate' in cert ? cert.issuerCertificate : undefined;
      }
      socket.destroy();
      reject(
        new LifelineError(
          'ENROLL_CA_PIN_MISMATCH',
          `the server at ${host}:${port} does not present the hub CA pinned in the token: refusing to enroll`,
        ),
      );
    });
    socket.once('error', (err: Error) =>
      reject(
        new LifelineError('API_UNREACHABLE', `cannot reach the hub at ${host}:${port}: ${err.message}`, {
          cause: err,
        }),
      ),
    );
  });
}

function postJson(
  host: string,
  port: number,
  servername: string | undefined,
  caPem: string,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`, {
      ca: caPem,
      ...(servername ? { servername } : {}),
      ALPNProtocols: [alpnCallHome],
    });
    session.once('error', (err: Error) =>
      reject(
        new LifelineError('API_UNREACHABLE', `cannot reach the hub at ${host}:${port}: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    const request = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
    const chunks: Buffer[] = [];
    let status = 0;
    request.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      session.close();
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        reject(new LifelineError('INTERNAL', `the hub answered ${status} with no JSON`));
        return;
      }
      if (status === 200) resolve(parsed);
      else {
        const code = isErrorCode(parsed.code) ? parsed.code : 'INTERNAL';
        reject(
          new LifelineError(
            code,
            typeof parsed.message === 'string' ? parsed.message : `the hub answered ${status}`,
          ),
        );
      }
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}
