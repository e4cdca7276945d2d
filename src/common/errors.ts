// The one error class of Lifeline: a closed set of string codes by area. Callers match on `code`.
// docs/errors.md lists every code with its HTTP status; errors.test.ts keeps the two in sync.

export const errorCodes = {
  CONFIG_INVALID: 400,
  CONFIG_NOT_FOUND: 400,
  CONFIG_EXISTS: 409,
  CLUSTER_EXISTS: 409,
  CLUSTER_NOT_FOUND: 404,
  CLUSTER_KEY_MISMATCH: 403,
  ENROLL_TOKEN_INVALID: 401,
  ENROLL_TOKEN_EXPIRED: 401,
  ENROLL_TOKEN_USED: 401,
  ENROLL_CA_PIN_MISMATCH: 502,
  ENROLL_CSR_INVALID: 400,
  ENROLL_NOT_ENROLLED: 409,
  ENROLL_ALREADY_ENROLLED: 409,
  STATION_ID_INVALID: 400,
  STATION_UNKNOWN: 404,
  STATION_OFFLINE: 503,
  TUNNEL_CERT_REJECTED: 403,
  TUNNEL_LOST: 503,
  TUNNEL_DOWN: 503,
  POLICY_REMOTE_OFF: 403,
  POLICY_ACCESS_NONE: 403,
  POLICY_DENIED_BY_RULE: 403,
  POLICY_PENDING_APPROVAL: 403,
  POLICY_REQUEST_REJECTED: 403,
  POLICY_RULE_ENDED: 403,
  POLICY_SERVICE_UNKNOWN: 403,
  POLICY_TARGET_INVALID: 400,
  TICKET_INVALID: 403,
  TICKET_EXPIRED: 403,
  TICKET_REPLAYED: 403,
  TICKET_WRONG_STATION: 403,
  TICKET_WRONG_SERVICE: 403,
  SESSION_NOT_FOUND: 404,
  SESSION_LIMIT: 503,
  SESSION_TARGET_UNREACHABLE: 502,
  AUTH_REQUIRED: 401,
  AUTH_INVALID: 401,
  AUTH_NOT_AUTHORIZED: 403,
  AUTH_USER_EXISTS: 409,
  STORE_FAILED: 500,
  STORE_FULL: 507,
  CALLHOME_OUTBOX_FULL: 507,
  CALLHOME_REPORT_INVALID: 422,
  CALLHOME_DATA_REQUEST_CLOSED: 409,
  CALLHOME_MANIFEST_INVALID: 400,
  CALLHOME_PROBLEM_UNKNOWN: 404,
  CALLHOME_PROBLEM_CLOSED: 409,
  CALLHOME_ATTACHMENT_INVALID: 400,
  CALLHOME_ATTACHMENT_NOT_FOUND: 404,
  CALLHOME_ATTACHMENT_CONFLICT: 409,
  CALLHOME_ATTACHMENT_OUT_OF_ORDER: 409,
  CALLHOME_ATTACHMENT_PROBLEM_UNKNOWN: 409,
  CALLHOME_ATTACHMENT_INCOMPLETE: 409,
  CALLHOME_ATTACHMENT_GONE: 410,
  CALLHOME_ATTACHMENT_TOO_LARGE: 413,
  CALLHOME_ATTACHMENT_CHECKSUM: 422,
  CALLHOME_FIX_EXISTS: 409,
  CALLHOME_FIX_NOT_FOUND: 404,
  CALLHOME_FIX_KEY_MISSING: 409,
  CALLHOME_FIX_UNVERIFIED: 502,
  AUDIT_CHECKPOINT_CONFLICT: 409,
  API_BAD_REQUEST: 400,
  API_NOT_FOUND: 404,
  API_UNREACHABLE: 503,
  API_BUSY: 503,
  API_REQUEST_TIMEOUT: 408,
  // Fair shares: a per-user, per-station or per-technician bound is used up.
  API_LIMIT_REACHED: 429,
  API_MISDIRECTED: 421,
  // A listener cannot bind its address at start-up (in use, not permitted, not on this machine).
  API_LISTEN_FAILED: 500,
  // The agent's link to the hub (tunnel, call home, upload channel): socket, TLS and timeout
  // failures, each with Node's original error as `cause`.
  LINK_REFUSED: 502,
  LINK_UNREACHABLE: 502,
  LINK_TIMEOUT: 504,
  LINK_RESET: 502,
  LINK_TLS_UNTRUSTED: 502,
  LINK_TLS_FAILED: 502,
  LINK_ALPN: 502,
  // Agent connectivity: the customer's HTTP proxy and the hub's endpoints.
  PROXY_UNREACHABLE: 502,
  PROXY_AUTH_REQUIRED: 407,
  PROXY_CONNECT_REFUSED: 502,
  // Reconnect storms: the hub's tunnel admission rate.
  TUNNEL_ADMISSION_LIMITED: 503,
  // A hub node draining before it stops: new tunnels and session requests go to another node.
  HUB_DRAINING: 503,
  // Certificate lifecycle: renewal, expiry, revocation, CA and ticket-key rotation.
  STATION_REVOKED: 403,
  STATION_REENROLL: 403,
  STATION_CERT_EXPIRED: 403,
  CERT_RENEWAL_FAILED: 502,
  // Technician MFA and identity: TOTP at login, login rate limits, the agent's MFA requirement.
  AUTH_TOTP_REQUIRED: 401,
  AUTH_TOTP_INVALID: 401,
  AUTH_RATE_LIMITED: 429,
  SESSION_MFA_REQUIRED: 403,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class LifelineError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LifelineError';
    this.code = code;
  }

  get httpStatus(): number {
    return errorCodes[this.code];
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}

/** At an edge, anything that is not already a LifelineError becomes INTERNAL with the original as cause. */
export function toLifelineError(err: unknown): LifelineError {
  if (err instanceof LifelineError) return err;
  return new LifelineError('INTERNAL', 'internal error', { cause: err });
}
