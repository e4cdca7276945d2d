// Which LINK_* code a socket, TLS or HTTP/2 failure is. Node reports these with a `code` of its own
// (ECONNREFUSED, OpenSSL's verification codes, ERR_SSL_*); the link layer keeps that error as the
// cause of a LifelineError, so callers match on our code and a person still reads the original.

import { LifelineError, type ErrorCode } from '../../common/errors.js';

export type LinkErrorCode = Extract<ErrorCode, `LINK_${string}`>;

/** OpenSSL's verification failures (as Node names them) that mean: not issued by the pinned hub CA. */
const unknownIssuer = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/** The other verification failures: the chain is there but unusable, or the certificate is not for now. */
const otherUntrusted = [
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
];

const byNodeCode: ReadonlyMap<string, LinkErrorCode> = new Map(
  Object.entries({
    ECONNREFUSED: 'LINK_REFUSED',
    ENOTFOUND: 'LINK_UNREACHABLE',
    EAI_AGAIN: 'LINK_UNREACHABLE',
    EAI_FAIL: 'LINK_UNREACHABLE',
    EHOSTUNREACH: 'LINK_UNREACHABLE',
    ENETUNREACH: 'LINK_UNREACHABLE',
    EHOSTDOWN: 'LINK_UNREACHABLE',
    ENETDOWN: 'LINK_UNREACHABLE',
    EADDRNOTAVAIL: 'LINK_UNREACHABLE',
    ETIMEDOUT: 'LINK_TIMEOUT',
    ERR_TLS_HANDSHAKE_TIMEOUT: 'LINK_TIMEOUT',
    ECONNRESET: 'LINK_RESET',
    ECONNABORTED: 'LINK_RESET',
    EPIPE: 'LINK_RESET',
    ERR_STREAM_PREMATURE_CLOSE: 'LINK_RESET',
    ERR_HTTP2_STREAM_ERROR: 'LINK_RESET',
    ERR_HTTP2_STREAM_CANCEL: 'LINK_RESET',
    ERR_HTTP2_SESSION_ERROR: 'LINK_RESET',
    ERR_HTTP2_GOAWAY_SESSION: 'LINK_RESET',
    ERR_HTTP2_INVALID_SESSION: 'LINK_RESET',
    ...Object.fromEntries(
      [...unknownIssuer, ...otherUntrusted].map((code) => [code, 'LINK_TLS_UNTRUSTED' as const]),
    ),
    // The server refused every protocol offered (a TLS alert), rather than choosing none.
    ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: 'LINK_ALPN',
    ERR_SSL_NO_APPLICATION_PROTOCOL: 'LINK_ALPN',
  } satisfies Record<string, LinkErrorCode>),
);

function nodeCodeOf(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** The LINK_* code of a Node socket, TLS or HTTP/2 error; undefined when its code is none of those. */
export function linkCodeOf(err: unknown): LinkErrorCode | undefined {
  if (err instanceof LifelineError)
    return err.code.startsWith('LINK_') ? (err.code as LinkErrorCode) : undefined;
  const code = nodeCodeOf(err);
  if (code === undefined) return undefined;
  const known = byNodeCode.get(code);
  if (known) return known;
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'LINK_TLS_FAILED';
  return undefined;
}

/**
 * A link failure as a LifelineError: one already (LINK_*, PROXY_*, a configuration error) as it is;
 * anything else with its LINK_* code (`fallback` when it has none), `message` (default its own) and
 * itself as the cause.
 */
export function toLinkError(
  err: unknown,
  message?: string,
  fallback: ErrorCode = 'LINK_UNREACHABLE',
): LifelineError {
  if (err instanceof LifelineError) return err;
  const text = message ?? (err instanceof Error ? err.message : String(err));
  return new LifelineError(linkCodeOf(err) ?? fallback, text, { cause: err });
}

/** Whether the error is about the way to the hub (its socket, TLS, the proxy), not an answer of it. */
export function isLinkFailure(err: unknown): err is LifelineError {
  return err instanceof LifelineError && (err.code.startsWith('LINK_') || err.code.startsWith('PROXY_'));
}

/**
 * Whether the hub's certificate does not chain to the pinned hub CA (the other LINK_TLS_UNTRUSTED
 * failures are a name or validity period): what a hub CA rotation the agent missed looks like.
 */
export function isUnknownHubIssuer(err: unknown): boolean {
  for (let at: unknown = err, depth = 0; at !== undefined && at !== null && depth < 8; depth++) {
    const code = nodeCodeOf(at);
    if (code !== undefined && unknownIssuer.has(code)) return true;
    at = (at as { cause?: unknown }).cause;
  }
  return false;
}
