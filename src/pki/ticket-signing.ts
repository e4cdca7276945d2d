// Service tickets signed by the hub's Ed25519 key (JWS, EdDSA) and verified by the agent with the
// key it pinned at enrollment. Verification checks signature, issuer, audience (the station),
// lifetime and expiry; replay is the caller's job (it needs storage).

import { generateKeyPairSync, createPublicKey, createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { LifelineError } from '../common/errors.js';
import { splitPemBundle } from './trust-check.js';
import {
  maxTicketLifetimeSeconds,
  ticketClaimsSchema,
  ticketIssuer,
  type TicketClaims,
} from '../protocol/index.js';

export interface TicketKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

export function createTicketKeyPair(): TicketKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export class TicketSigner {
  #key: KeyObject;

  constructor(privateKeyPem: string) {
    this.#key = createPrivateKey(privateKeyPem);
  }

  /** The ticket key rotated: tickets signed from now on use the new key. */
  replaceKey(privateKeyPem: string): void {
    this.#key = createPrivateKey(privateKeyPem);
  }

  async sign(claims: TicketClaims): Promise<string> {
    const { iat, exp, ...rest } = claims;
    return new SignJWT(rest)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'lifeline-ticket+jwt' })
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.#key);
  }
}

/** Clock difference tolerated between hub and agent when checking iat and exp. */
export const ticketClockToleranceSeconds = 5;

/**
 * Until when a verifier may accept this ticket: its nonce must be remembered at least that long,
 * or a replay just after expiry would find the nonce forgotten while the ticket still verifies.
 */
export function ticketAcceptedUntilMs(claims: Pick<TicketClaims, 'exp'>): number {
  return (claims.exp + ticketClockToleranceSeconds) * 1000;
}

export class TicketVerifier {
  #keys: KeyObject[];

  /** One public key, or several concatenated: the pinned keys during a ticket-key rotation. */
  constructor(publicKeysPem: string) {
    this.#keys = parsePublicKeys(publicKeysPem);
  }

  /** The pinned ticket keys changed (a rotation's trust bundle): tickets are checked against these. */
  replaceKeys(publicKeysPem: string): void {
    this.#keys = parsePublicKeys(publicKeysPem);
  }

  /** Verifies a ticket for `stationId` at `nowMs`; throws TICKET_* with the reason. */
  async verify(token: string, stationId: string, nowMs: number): Promise<TicketClaims> {
    let payload: unknown;
    try {
      payload = await verifyWithAny(token, this.#keys, nowMs);
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new LifelineError('TICKET_EXPIRED', 'the service ticket has expired', { cause: err });
      }
      throw new LifelineError('TICKET_INVALID', 'the service ticket is not validly signed by the hub', {
        cause: err,
      });
    }
    const parsed = ticketClaimsSchema.safeParse(payload);
    if (!parsed.success) {
      throw new LifelineError('TICKET_INVALID', 'the service ticket is malformed');
    }
    const claims = parsed.data;
    if (claims.aud !== stationId) {
      throw new LifelineError('TICKET_WRONG_STATION', `the service ticket is for station ${claims.aud}`);
    }
    if (claims.iat > nowMs / 1000 + ticketClockToleranceSeconds) {
      // A lifetime check alone would let a ticket dated an hour ahead live for an hour.
      throw new LifelineError('TICKET_INVALID', 'the service ticket is issued in the future');
    }
    if (claims.exp - claims.iat > maxTicketLifetimeSeconds || claims.exp <= claims.iat) {
      throw new LifelineError(
        'TICKET_INVALID',
        `the service ticket lives longer than ${maxTicketLifetimeSeconds} s`,
      );
    }
    return claims;
  }
}

function parsePublicKeys(publicKeysPem: string): KeyObject[] {
  const keys = splitPemBundle(publicKeysPem).map((pem) => createPublicKey(pem));
  if (keys.length === 0)
    throw new LifelineError('CONFIG_INVALID', 'no ticket public key in the pinned key file');
  return keys;
}

/** Tries each key in turn; only a signature that none of them verifies is refused as such. */
async function verifyWithAny(token: string, keys: readonly KeyObject[], nowMs: number): Promise<unknown> {
  let lastError: unknown;
  for (const key of keys) {
    try {
      const result = await jwtVerify(token, key, {
        algorithms: ['EdDSA'],
        issuer: ticketIssuer,
        typ: 'lifeline-ticket+jwt',
        currentDate: new Date(nowMs),
        clockTolerance: ticketClockToleranceSeconds,
      });
      return result.payload;
    } catch (err) {
      if (!(err instanceof joseErrors.JWSSignatureVerificationFailed)) throw err;
      lastError = err;
    }
  }
  throw lastError;
}
