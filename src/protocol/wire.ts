// The wire vocabulary shared by hub, agent and technician: ALPN names, stream headers and paths.
// docs/protocol.md describes how they are used.

/** ALPN of the service tunnel: after the TLS handshake the hub is the HTTP/2 client. */
export const alpnTunnel = 'lifeline-tunnel/1';
/** ALPN of the call-home channel: ordinary HTTP/2 requests from agent to hub. */
export const alpnCallHome = 'h2';
/**
 * ALPN of the upload channel: attachment chunks as length-prefixed frames on their own connection,
 * answered by JSON lines (upload-channel.ts), so bulk bytes skip HTTP/2's framing.
 */
export const alpnUpload = 'lifeline-upload/1';
/**
 * ALPN of the link between two hub nodes of a cluster, on the station port: HTTP/2 from the node
 * that has a technician's session request to the node holding the station's tunnel. Both sides
 * show node certificates from the cluster CA.
 */
export const alpnPeer = 'lifeline-peer/1';

/** The `:protocol` of the extended CONNECT (RFC 8441) that opens one service session. */
export const sessionProtocol = 'lifeline-session/1';

export const header = {
  ticket: 'lifeline-ticket',
  sessionId: 'lifeline-session-id',
  /**
   * A check of ticket, policy and service without opening a socket: "1" for an attempt, "wait"
   * for a technician polling an access request (not counted as another attempt).
   */
  probe: 'lifeline-probe',
  reason: 'lifeline-reason',
  errorCode: 'lifeline-error-code',
  endReason: 'lifeline-end-reason',
  endMessage: 'lifeline-end-message',
  /** The service of a session relayed between hub nodes. */
  service: 'lifeline-service',
} as const;

/** Path of a session stream on the tunnel (hub to agent). */
export function tunnelSessionPath(service: string): string {
  return `/v1/services/${encodeURIComponent(service)}`;
}

export function parseTunnelSessionPath(path: string): string | undefined {
  const match = /^\/v1\/services\/([^/?#]+)$/.exec(path);
  return match?.[1] === undefined ? undefined : safeDecodeUriComponent(match[1]);
}

/** decodeURIComponent that answers undefined for a malformed escape instead of throwing. */
export function safeDecodeUriComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Path of a session relayed from one hub node to the node holding the station's tunnel. */
export function peerSessionPath(stationId: string): string {
  return `/v1/peer/stations/${encodeURIComponent(stationId)}/session`;
}

export function parsePeerSessionPath(path: string): string | undefined {
  const match = /^\/v1\/peer\/stations\/([^/?#]+)\/session$/.exec(path);
  return match?.[1] === undefined ? undefined : safeDecodeUriComponent(match[1]);
}

/** Path of a session request on the technician API (technician to hub). */
export function technicianConnectPath(stationId: string, service: string): string {
  return `/v1/stations/${encodeURIComponent(stationId)}/connect?service=${encodeURIComponent(service)}`;
}

/** Why a session ended; carried in the `lifeline-end-reason` trailer and kept in the audit log. */
export const sessionEndReasons = [
  'closed',
  'stopped-by-admin',
  'remote-service-off',
  'access-none',
  'tunnel-lost',
  'target-error',
  'agent-shutdown',
  'hub-shutdown',
  'hub-drain-deadline',
  'rule-ended',
  'rule-denied',
  'max-duration',
  'idle-timeout',
  'audit-failure',
  'user-disabled',
  'mfa-required',
] as const;
export type SessionEndReason = (typeof sessionEndReasons)[number];

export const sessionEndMessages: Record<SessionEndReason, string> = {
  closed: 'session closed',
  'stopped-by-admin': 'stopped by the appliance administrator',
  'remote-service-off': 'remote service was turned off by the appliance administrator',
  'access-none': 'access was set to none by the appliance administrator',
  'tunnel-lost': 'the tunnel to the appliance was lost',
  'target-error': 'the appliance service closed the connection with an error',
  'agent-shutdown': 'the appliance agent shut down',
  'hub-shutdown': 'the hub shut down',
  'hub-drain-deadline':
    'the hub node stopped: its drain deadline passed while the session ran; connect again to reach another node',
  'rule-ended': 'the access rule that allowed the session expired or was removed',
  'rule-denied': 'an access rule of the appliance now denies this session',
  'max-duration': 'the session reached its maximum duration',
  'idle-timeout': 'the session was idle too long',
  'audit-failure': 'the appliance cannot write its audit log, so no session may run',
  'user-disabled': 'the technician user was disabled on the hub',
  'mfa-required': 'the appliance now requires MFA: log in with lifeline login ... --totp CODE',
};

/** HTTP/2 window sizes of tunnel and technician sessions: small windows halve throughput. */
export const http2Settings = {
  initialWindowSize: 16 * 1024 * 1024,
  maxFrameSize: 64 * 1024,
  enableConnectProtocol: true,
} as const;
export const http2SessionWindowBytes = 32 * 1024 * 1024;

export type ProbeKind = 'check' | 'wait';

export function probeKindOf(value: string | string[] | undefined): ProbeKind | undefined {
  if (value === '1') return 'check';
  if (value === 'wait') return 'wait';
  return undefined;
}

export function probeHeaderValue(kind: ProbeKind): string {
  return kind === 'check' ? '1' : 'wait';
}
