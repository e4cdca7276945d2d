// Enrollment: the agent trusts the hub on first contact through the CA pin in the token, makes
// its own key pair (the private key never leaves the appliance), sends a CSR and stores what the
// hub returns. Remote service is off afterwards. Through the customer's HTTP proxy when one is
// given (flags, written into agent.yaml) or set in HTTPS_PROXY.

import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import {
  connect as tlsConnect,
  type ConnectionOptions,
  type PeerCertificate,
  type DetailedPeerCertificate,
} from 'node:tls';
import { connect as h2connect } from 'node:http2';
import { stringify as toYaml } from 'yaml';
import { readAnswer } from '../../common/net/index.js';
import { systemClock } from '../../common/clock.js';
import { LifelineError, toLifelineError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { ensurePrivateDirectory, writePrivateFile } from '../../common/disk/index.js';
import { parseHostPort } from '../../common/net/index.js';
import { certSha256OfDer, createKeyAndCsr, derToPem } from '../../pki/index.js';
import { alpnCallHome, decodeEnrollmentToken } from '../../protocol/index.js';
import { AuditLog } from '../audit/index.js';
import { AgentStore } from '../store/index.js';
import { settingKeys } from '../store/index.js';
import { agentPaths } from '../config.js';
import { describeProxy, proxyFor, resolveProxy, type ProxyConfig } from '../link/index.js';
import { connectThroughProxy } from '../link/index.js';

export interface EnrollResult {
  stationId: string;
  hub: string;
  /** The mode the data directory had when enrollment tightened it to 0700 (made by mkdir -m 755). */
  dataDirTightenedFrom: number | undefined;
}

export async function enroll(options: {
  dataDir: string;
  tokenText: string;
  name?: string;
  /** A proxy given on the command line: used now and written into agent.yaml. */
  proxy?: ProxyConfig;
  onStep?: (step: string) => void;
  env?: NodeJS.ProcessEnv;
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
  // A proxy flag names a file relative to where the command runs; the agent reads it from anywhere.
  const proxy = proxyFor(resolveProxy(options.proxy, process.cwd(), options.env), host);
  const dial = (): Promise<Socket | undefined> =>
    proxy
      ? connectThroughProxy({ proxy, target: { host, port }, timeoutMs: 10_000 })
      : Promise.resolve(undefined);

  step(`contacting the hub at ${token.hub}${proxy ? ` through the proxy ${describeProxy(proxy)}` : ''}`);
  const caPem = await fetchPinnedCa(await dial(), host, port, servername, token.caSha256);

  step('creating the station key pair');
  const { keyPem, csrPem } = await createKeyAndCsr('lifeline-station');

  step('sending the certificate request');
  const response = await postJson(await dial(), host, port, servername, caPem, '/v1/enroll', {
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
  // The station key and the admin credential live here: only the agent's user may enter it.
  const dataDirTightenedFrom = ensurePrivateDirectory(options.dataDir);
  writePrivateFile(paths.stationKey, keyPem);
  writePrivateFile(paths.stationCert, certPem);
  writePrivateFile(paths.hubCa, caPem);
  writePrivateFile(paths.hubTicketKey, ticketKeyPem);
  if (fixKeyPem !== undefined) writePrivateFile(paths.hubFixKey, fixKeyPem);
  writePrivateFile(paths.adminToken, randomBytes(32).toString('base64url') + '\n');
  writePrivateFile(
    paths.config,
    '# Lifeline agent configuration. See docs/configuration.md.\n' +
      toYaml({
        hub: { endpoints: [token.hub] },
        ...(options.proxy ? { proxy: absoluteProxyConfig(options.proxy) } : {}),
        admin: { listen: '127.0.0.1:8080' },
      }),
  );
  const store = await AgentStore.open(paths.database);
  try {
    // The station's identity and its audit entry, in one transaction.
    await new AuditLog(store, systemClock, silentLogger()).record(
      'admin@cli',
      'enroll',
      { stationId, hub: token.hub, ...(proxy ? { proxy: describeProxy(proxy) } : {}) },
      {
        settings: [
          { key: settingKeys.stationId, value: stationId },
          { key: settingKeys.remoteEnabled, value: false },
        ],
      },
    );
  } finally {
    await store.close();
  }
  return { stationId, hub: token.hub, dataDirTightenedFrom };
}

/** First contact: accept the hub only if its chain holds the CA whose SHA-256 the token pins. */
function fetchPinnedCa(
  socket: Socket | undefined,
  host: string,
  port: number,
  servername: string | undefined,
  pin: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      ...where(socket, host, port),
      servername,
      rejectUnauthorized: false,
      ALPNProtocols: [alpnCallHome],
      minVersion: 'TLSv1.3',
    });
    tls.setTimeout(10_000, () =>
      tls.destroy(new LifelineError('LINK_TIMEOUT', 'no TLS connection within 10 s (timed out)')),
    );
    tls.once('secureConnect', () => {
      let cert: PeerCertificate | DetailedPeerCertificate | undefined = tls.getPeerCertificate(true);
      const seen = new Set<string>();
      while (cert && 'raw' in cert && cert.raw) {
        const fingerprint = certSha256OfDer(cert.raw);
        if (fingerprint === pin) {
          tls.end();
          resolve(derToPem(cert.raw));
          return;
        }
        if (seen.has(fingerprint)) break;
        seen.add(fingerprint);
        cert = 'issuerCertificate' in cert ? cert.issuerCertificate : undefined;
      }
      tls.destroy();
      reject(
        new LifelineError(
          'ENROLL_CA_PIN_MISMATCH',
          `the server at ${host}:${port} does not present the hub CA pinned in the token: refusing to enroll`,
        ),
      );
    });
    tls.once('error', (err: Error) =>
      reject(
        new LifelineError('API_UNREACHABLE', `cannot reach the hub at ${host}:${port}: ${err.message}`, {
          cause: err,
        }),
      ),
    );
  });
}

function postJson(
  socket: Socket | undefined,
  host: string,
  port: number,
  servername: string | undefined,
  caPem: string,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const tlsOptions: ConnectionOptions = {
      ca: caPem,
      ...(servername ? { servername } : {}),
      ALPNProtocols: [alpnCallHome],
    };
    const session = h2connect(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`, {
      ...tlsOptions,
      // Through a proxy, TLS runs on the CONNECT tunnel; `host` is then the name checked.
      ...(socket ? { createConnection: () => tlsConnect({ ...tlsOptions, socket, host }) } : {}),
    });
    const unreachable = (err: Error) =>
      reject(
        new LifelineError('API_UNREACHABLE', `cannot reach the hub at ${host}:${port}: ${err.message}`, {
          cause: err,
        }),
      );
    session.once('error', unreachable);
    const request = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
    const chunks: Buffer[] = [];
    let status = 0;
    request.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      session.close();
      try {
        resolve(
          readAnswer<Record<string, unknown>>(status, Buffer.concat(chunks).toString('utf8'), 'the hub'),
        );
      } catch (err) {
        reject(toLifelineError(err));
      }
    });
    request.on('error', unreachable);
    request.end(JSON.stringify(body));
  });
}

/** Where a TLS connection goes: over the proxy's tunnel, else straight to the hub. */
function where(socket: Socket | undefined, host: string, port: number): ConnectionOptions {
  return socket ? { socket, host } : { host, port };
}

/** The proxy as agent.yaml keeps it: a password file named on the command line made absolute. */
function absoluteProxyConfig(proxy: ProxyConfig): ProxyConfig {
  return {
    ...proxy,
    ...(proxy.passwordFile !== undefined ? { passwordFile: resolvePath(proxy.passwordFile) } : {}),
  };
}
