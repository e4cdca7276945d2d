// The hub CA's certificate revocation list, served without authentication at GET /v1/ca.crl on the
// technician API. The hub's server certificates name that URL (CRL distribution point), so TLS
// clients and scanners that look for a revocation source find one the hub really serves.

import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { Clock } from '../../common/clock.js';
import { certNotAfterMs, certSerial, certSha256, type KeyAndCert } from '../../pki/index.js';
import type { HubCertSerialStore } from '../store/index.js';

export const crlPath = '/v1/ca.crl';
const hourMs = 3600 * 1000;

/** The CRL's URL under the technician API's public URL (hub.yaml `apiUrl`, which may carry a path). */
export function crlUrlFor(apiUrl: string): string {
  return `${apiUrl.replace(/\/+$/, '')}${crlPath}`;
}

/** A DER CRL signed by `ca`, listing `revokedSerials` (hex), valid from nowMs for validityMs. */
export async function buildCaCrl(options: {
  ca: KeyAndCert;
  revokedSerials: readonly string[];
  nowMs: number;
  validityMs: number;
}): Promise<Buffer> {
  const caCert = new x509.X509Certificate(options.ca.certPem);
  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(options.ca.keyPem),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: caCert.subject,
      thisUpdate: new Date(options.nowMs),
      nextUpdate: new Date(options.nowMs + options.validityMs),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      signingKey,
      extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert, false, webcrypto)],
      entries: options.revokedSerials.map((serialNumber) => ({
        serialNumber,
        revocationDate: new Date(options.nowMs),
      })),
    },
    webcrypto,
  );
  return Buffer.from(crl.rawData);
}

/** Remembers a station certificate the hub just issued, so the CRL can list it if the station is revoked. */
export async function recordIssuedStationCert(
  serials: HubCertSerialStore,
  stationId: string,
  certPem: string,
  issuerCertPem: string,
  nowMs: number,
): Promise<void> {
  await serials.recordIssued({
    serial: certSerial(certPem),
    stationId,
    issuerSha256: certSha256(issuerCertPem),
    issuedAtMs: nowMs,
    notAfterMs: certNotAfterMs(certPem),
  });
}

/** The revoked stations' unexpired certificates from the CA `ca` (for CaCrlOptions.revokedSerials). */
export function revokedStationSerials(
  serials: HubCertSerialStore,
  ca: () => KeyAndCert,
  clock: Clock,
): () => Promise<readonly string[]> {
  return () => serials.listRevokedSerials(certSha256(ca().certPem), clock.now());
}

export interface CaCrlOptions {
  /** The CA that issued the served server certificate; read on each re-signing (rotations). */
  ca: () => KeyAndCert;
  /** Serials (hex) of revoked certificates from that CA. */
  revokedSerials?: () => Promise<readonly string[]>;
  clock: Clock;
  /** How long a CRL is valid (nextUpdate - thisUpdate). */
  validityMs?: number;
  /** A CRL is signed again at most this often, or at once when the CA changed. */
  reSignIntervalMs?: number;
}

/** The current CRL, signed on demand and cached, so requests cannot make the hub sign in a loop. */
export class CaCrl {
  readonly #options: CaCrlOptions;
  readonly #validityMs: number;
  readonly #reSignIntervalMs: number;
  #cached: { der: Promise<Buffer>; signedAtMs: number; caPem: string } | undefined;

  constructor(options: CaCrlOptions) {
    this.#options = options;
    this.#validityMs = options.validityMs ?? 7 * 24 * hourMs;
    this.#reSignIntervalMs = Math.min(options.reSignIntervalMs ?? hourMs, this.#validityMs / 2);
  }

  der(): Promise<Buffer> {
    const nowMs = this.#options.clock.now();
    const ca = this.#options.ca();
    const cached = this.#cached;
    if (cached && cached.caPem === ca.certPem && nowMs - cached.signedAtMs < this.#reSignIntervalMs)
      return cached.der;
    const der = (async () =>
      buildCaCrl({
        ca,
        revokedSerials: (await this.#options.revokedSerials?.()) ?? [],
        nowMs,
        validityMs: this.#validityMs,
      }))();
    this.#cached = { der, signedAtMs: nowMs, caPem: ca.certPem };
    // A failed signing is not cached: the next request tries again.
    der.catch(() => {
      if (this.#cached?.der === der) this.#cached = undefined;
    });
    return der;
  }
}

/** GET /v1/ca.crl: public, like any CRL (it is signed; it names only serials). */
export function registerCrlRoute<S extends RawServerBase>(app: FastifyInstance<S>, crl: CaCrl): void {
  app.get(crlPath, async (_request, reply) => {
    const der = await crl.der();
    return reply
      .header('content-type', 'application/pkix-crl')
      .header('cache-control', 'public, max-age=3600')
      .send(der);
  });
}
