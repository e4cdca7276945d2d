// The hub's trust bundle, pinned by the agent: the hub CA certificates it trusts for the hub's
// server certificate and the keys it accepts on service tickets. Fetched over the authenticated
// call-home channel (GET /v1/trust) at start, with each renewal and every hour, so that a CA or
// ticket-key rotation reaches the agent during its overlap. Files are replaced atomically.

import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import { replaceFile } from '../../common/disk/index.js';
import type { Logger } from '../../common/logger.js';
import { splitPemBundle, type TicketVerifier } from '../../pki/index.js';
import type { StationCredentials } from './station-credentials.js';

export const trustBundleSchema = z.object({
  caPem: z
    .string()
    .min(100)
    .max(64 * 1024),
  ticketPublicKeysPem: z
    .string()
    .min(50)
    .max(16 * 1024),
  fixPublicKeyPem: z.string().max(16 * 1024),
  overlapEndsAtMs: z.number().int().nullable(),
});

export type TrustBundleAnswer = z.infer<typeof trustBundleSchema>;

/** Checks every block of the bundle parses as what it claims; returns them normalised. */
export function checkTrustBundle(input: unknown): TrustBundleAnswer {
  const parsed = trustBundleSchema.safeParse(input);
  if (!parsed.success)
    throw new LifelineError('CERT_RENEWAL_FAILED', 'the hub sent a malformed trust bundle');
  const cas = splitPemBundle(parsed.data.caPem);
  const keys = splitPemBundle(parsed.data.ticketPublicKeysPem);
  if (cas.length === 0 || cas.length > 4 || keys.length === 0 || keys.length > 4) {
    throw new LifelineError('CERT_RENEWAL_FAILED', 'the hub sent a trust bundle with no or too many entries');
  }
  try {
    for (const pem of cas) {
      if (!new X509Certificate(pem).ca) throw new Error('not a CA certificate');
    }
    for (const pem of keys) createPublicKey(pem);
  } catch (err) {
    throw new LifelineError('CERT_RENEWAL_FAILED', 'the hub sent a trust bundle that does not parse', {
      cause: err,
    });
  }
  return { ...parsed.data, caPem: cas.join(''), ticketPublicKeysPem: keys.join('') };
}

export class TrustBundlePinner {
  readonly #paths: { hubCa: string; hubTicketKey: string };
  readonly #credentials: StationCredentials;
  readonly #verifier: TicketVerifier;
  readonly #fetch: () => Promise<unknown>;
  readonly #record: (action: string, detail: Record<string, unknown>) => Promise<void>;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #overlapEndsAtMs: number | null = null;

  constructor(options: {
    paths: { hubCa: string; hubTicketKey: string };
    credentials: StationCredentials;
    verifier: TicketVerifier;
    fetch: () => Promise<unknown>;
    record: (action: string, detail: Record<string, unknown>) => Promise<void>;
    logger: Logger;
    intervalMs?: number;
  }) {
    this.#paths = options.paths;
    this.#credentials = options.credentials;
    this.#verifier = options.verifier;
    this.#fetch = options.fetch;
    this.#record = options.record;
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs ?? 3600_000;
  }

  /** When the hub's current rotation overlap ends, as last heard; null when none. */
  get overlapEndsAtMs(): number | null {
    return this.#overlapEndsAtMs;
  }

  start(): void {
    void this.refresh();
    this.#timer ??= setInterval(() => void this.refresh(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Fetches and pins; a failure is logged (the next call home tries again). */
  async refresh(): Promise<void> {
    try {
      await this.pin(await this.#fetch());
    } catch (err) {
      this.#logger.warn({ err }, 'fetching the hub trust bundle failed');
    }
  }

  /** Pins the bundle if it differs from what is pinned; true when it changed anything. */
  async pin(input: unknown): Promise<boolean> {
    const bundle = checkTrustBundle(input);
    this.#overlapEndsAtMs = bundle.overlapEndsAtMs;
    const read = (path: string) => readFileSync(path, 'utf8');
    const caChanged = read(this.#paths.hubCa) !== bundle.caPem;
    const keysChanged = read(this.#paths.hubTicketKey) !== bundle.ticketPublicKeysPem;
    if (!caChanged && !keysChanged) return false;
    if (keysChanged) {
      replaceFile(this.#paths.hubTicketKey, bundle.ticketPublicKeysPem);
      this.#verifier.replaceKeys(bundle.ticketPublicKeysPem);
    }
    if (caChanged) {
      replaceFile(this.#paths.hubCa, bundle.caPem);
      this.#credentials.reload();
    }
    const detail = {
      hubCas: splitPemBundle(bundle.caPem).length,
      ticketKeys: splitPemBundle(bundle.ticketPublicKeysPem).length,
      overlapEnds: bundle.overlapEndsAtMs === null ? null : new Date(bundle.overlapEndsAtMs).toISOString(),
    };
    this.#logger.info(detail, 'hub trust bundle pinned');
    await this.#record('trust.pinned', detail);
    return true;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
