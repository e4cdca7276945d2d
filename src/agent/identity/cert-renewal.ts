// Keeps the station certificate fresh: at half its life the agent makes a new key pair and CSR, asks
// the hub over call home to sign it, writes key and certificate atomically and reloads the station
// credentials (connections dial with them from then on; an open tunnel stays). A certificate that
// expired while the hub was away is renewed when the hub is back (the hub allows that within its
// renewalGrace); a revoked station, or one past the grace, is told to re-enroll and stops asking.
// Each renewal also brings the hub's trust bundle (see trust-bundle.ts), which is pinned.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { Backoff } from '../../common/backoff.js';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { replaceFile } from '../../common/disk/index.js';
import type { Logger } from '../../common/logger.js';
import { createKeyAndCsr } from '../../pki/index.js';
import { isUnknownHubIssuer } from '../link/index.js';
import type { StationCredentials } from './station-credentials.js';
import type { TrustBundleAnswer } from './trust-bundle.js';

export type CertificateState = 'valid' | 'renewing' | 'expired' | 'revoked' | 'reenroll';

export interface CertificateStatus {
  state: CertificateState;
  notAfterMs: number;
  /** When the next renewal attempt is due; null when none will be made. */
  renewAtMs: number | null;
  lastRenewedAtMs: number | null;
  lastError: string | null;
  /** What the administrator reads: expiry, or what is being waited for, or what to do. */
  summary: string;
}

export interface RenewAnswer {
  certPem: string;
  notAfterMs: number;
  trust: TrustBundleAnswer;
}

export interface CertificateRenewalOptions {
  stationId: string;
  credentials: StationCredentials;
  paths: { stationKey: string; stationCert: string };
  /** POST /v1/certificate/renew over the call-home channel. */
  renew: (csrPem: string) => Promise<RenewAnswer>;
  /** The new credentials are in place: pin the bundle that came with them, reconnect call home. */
  renewed: (answer: RenewAnswer) => Promise<void>;
  /** Writes the agent's audit log. */
  record: (action: string, detail: Record<string, unknown>) => Promise<void>;
  clock: Clock;
  logger: Logger;
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** When a certificate valid from notBeforeMs to notAfterMs is due for renewal: half its life. */
export function renewalDueAtMs(notBeforeMs: number, notAfterMs: number): number {
  return notBeforeMs + Math.floor((notAfterMs - notBeforeMs) / 2);
}

export class CertificateRenewal {
  readonly #options: CertificateRenewalOptions;
  readonly #backoff: Backoff;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #stopped: 'revoked' | 'reenroll' | undefined;
  #renewAtMs: number | null = null;
  #lastRenewedAtMs: number | null = null;
  #lastError: string | null = null;
  /** The last failure was a hub certificate not issued by the pinned CA (a missed CA rotation?). */
  #hubUnverifiable = false;

  constructor(options: CertificateRenewalOptions) {
    this.#options = options;
    this.#backoff = new Backoff({
      minMs: options.retryMinMs ?? 1000,
      maxMs: options.retryMaxMs ?? 60_000,
    });
  }

  start(): void {
    this.#schedule(this.#dueAtMs());
  }

  status(): CertificateStatus {
    const nowMs = this.#options.clock.now();
    const { notAfterMs } = this.#options.credentials;
    const expiry = new Date(notAfterMs).toISOString();
    let state: CertificateState;
    let summary: string;
    if (this.#stopped === 'revoked') {
      state = 'revoked';
      summary = `this station is revoked by the hub: enroll it again with a new token (lifeline hub token create, then lifeline agent enroll)`;
    } else if (this.#stopped === 'reenroll') {
      state = 'reenroll';
      summary = `the certificate cannot be renewed any more: enroll this station again with a new token (lifeline hub token create, then lifeline agent enroll)`;
    } else if (this.#lastError !== null && this.#hubUnverifiable) {
      // Still retried (the hub may be misconfigured only for now), but most likely a missed rotation.
      state = 'reenroll';
      summary = this.#lastError;
    } else if (nowMs >= notAfterMs) {
      state = 'expired';
      summary = `expired ${expiry}, renewing when the hub is reachable`;
    } else if (this.#lastError !== null) {
      state = 'renewing';
      summary = `valid until ${expiry}; renewal failed, retrying: ${this.#lastError}`;
    } else {
      state = 'valid';
      summary = `valid until ${expiry}`;
    }
    return {
      state,
      notAfterMs,
      renewAtMs: this.#stopped ? null : this.#renewAtMs,
      lastRenewedAtMs: this.#lastRenewedAtMs,
      lastError: this.#lastError,
      summary,
    };
  }

  /** Renews now (also what the timer calls). Failures are logged and retried with backoff. */
  renewNow(): Promise<void> {
    this.#running ??= this.#attempt().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  #dueAtMs(): number {
    const { notBeforeMs, notAfterMs } = this.#options.credentials;
    return renewalDueAtMs(notBeforeMs, notAfterMs);
  }

  #schedule(atMs: number): void {
    if (this.#closed || this.#stopped) return;
    clearTimeout(this.#timer);
    this.#renewAtMs = atMs;
    // setTimeout holds at most about 24.8 days; a longer wait is taken in steps.
    const delayMs = Math.min(Math.max(0, atMs - this.#options.clock.now()), 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      if (this.#options.clock.now() < atMs) this.#schedule(atMs);
      else void this.renewNow();
    }, delayMs);
    this.#timer.unref();
  }

  async #attempt(): Promise<void> {
    const { credentials, clock, logger, stationId } = this.#options;
    const previousNotAfterMs = credentials.notAfterMs;
    try {
      const { keyPem, csrPem } = await createKeyAndCsr(stationId);
      const answer = await this.#options.renew(csrPem);
      checkAnswer(answer, stationId, keyPem);
      // The key first: a crash between the two renames leaves a key the old certificate does not
      // match, so both are written before either is read again; reload() reads them together.
      // Atomically and 0600: a reader (or a crash) never sees half a key.
      replaceFile(this.#options.paths.stationKey, keyPem);
      replaceFile(this.#options.paths.stationCert, answer.certPem);
      credentials.reload();
      this.#lastRenewedAtMs = clock.now();
      this.#lastError = null;
      this.#hubUnverifiable = false;
      this.#backoff.reset();
      logger.info({ notAfter: new Date(answer.notAfterMs).toISOString() }, 'station certificate renewed');
      await this.#options.record('station.cert.renewed', {
        notAfter: new Date(credentials.notAfterMs).toISOString(),
        previousNotAfter: new Date(previousNotAfterMs).toISOString(),
      });
      await this.#options
        .renewed(answer)
        .catch((err: unknown) => logger.warn({ err }, 'pinning the trust bundle after renewal failed'));
      this.#schedule(this.#dueAtMs());
    } catch (err) {
      await this.#failed(err);
    }
  }

  async #failed(err: unknown): Promise<void> {
    const { clock, logger } = this.#options;
    const code = err instanceof LifelineError ? err.code : undefined;
    const message = describeRenewalError(err);
    // Logged every time, audited once per streak of the same failure (an outage is one entry).
    const repeated = this.#lastError === message;
    this.#lastError = message;
    this.#hubUnverifiable = isUnknownHubIssuer(err);
    if (code === 'STATION_REVOKED' || code === 'STATION_REENROLL') {
      this.#stopped = code === 'STATION_REVOKED' ? 'revoked' : 'reenroll';
      clearTimeout(this.#timer);
      logger.error({ code }, `station certificate renewal refused: ${message}`);
      await this.#options
        .record('station.cert.renewal.refused', { code, reason: message })
        .catch(() => undefined);
      return;
    }
    const nowMs = clock.now();
    const delayMs = Math.max(500, this.#backoff.nextDelayMs(nowMs));
    logger.warn({ err, retryInMs: delayMs }, `station certificate renewal failed: ${message}`);
    if (!repeated)
      await this.#options
        .record('station.cert.renewal.failed', { code: code ?? 'CERT_RENEWAL_FAILED', reason: message })
        .catch(() => undefined);
    this.#schedule(nowMs + delayMs);
  }
}

/** The answer must be a certificate for this station and the key just made. */
function checkAnswer(answer: RenewAnswer, stationId: string, keyPem: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(answer.certPem);
  } catch (err) {
    throw new LifelineError('CERT_RENEWAL_FAILED', 'the hub answered with no readable certificate', {
      cause: err,
    });
  }
  if (!cert.subject.split('\n').includes(`CN=${stationId}`)) {
    throw new LifelineError('CERT_RENEWAL_FAILED', `the renewed certificate does not name ${stationId}`);
  }
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new LifelineError(
      'CERT_RENEWAL_FAILED',
      'the renewed certificate is not for the key this agent made',
    );
  }
}

/** The error as an administrator reads it; a hub the agent cannot verify means a missed CA rotation. */
export function describeRenewalError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (isUnknownHubIssuer(err)) {
    return `${message}: if the hub rotated its CA while this appliance was not calling home, enroll this station again with a new token`;
  }
  return message;
}
