// Building blocks of the config schemas: durations ("30s", "15m") and HOST:PORT addresses, each
// with an error that names the expected form.

import { z } from 'zod';
import { formatDurationMs, parseDurationMs } from './duration.js';
import { parseHostPort } from '../net/index.js';
import type { ConnectionLimits } from '../net/index.js';

export const hostPortSchema = z.string().refine((v) => {
  try {
    parseHostPort(v, 'address');
    return true;
  } catch {
    return false;
  }
}, 'expected HOST:PORT such as 127.0.0.1:8443 or [::1]:8443');

/** A duration with a default, bounded to [minMs, maxMs]; parsed to milliseconds. */
export function durationSchema(fallback: string, bounds: { minMs?: number; maxMs?: number } = {}) {
  const minMs = bounds.minMs ?? 1;
  const maxMs = bounds.maxMs ?? Number.MAX_SAFE_INTEGER;
  const range =
    (minMs > 1 ? ` of at least ${formatDurationMs(minMs)}` : '') +
    (maxMs < Number.MAX_SAFE_INTEGER ? `${minMs > 1 ? ' and' : ''} at most ${formatDurationMs(maxMs)}` : '');
  return z
    .string()
    .default(fallback)
    .refine((v) => {
      try {
        const ms = parseDurationMs(v);
        return ms >= minMs && ms <= maxMs;
      } catch {
        return false;
      }
    }, `expected a duration such as 30s, 15m or 8h${range}`)
    .transform((v) => parseDurationMs(v));
}

export const logSchema = z
  .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
  .strict()
  .default({ level: 'info' });

/** A whole number of `what` in [min, max], with an error that names the expected form. */
export function wholeNumberSchema(what: string, min: number, max: number) {
  const error = `expected a whole number of ${what}, from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** Defaults of a listener's caps; the deadlines' defaults are the same everywhere. */
interface ConnectionCapDefaults {
  maxUnauthenticatedPerAddress: number;
  maxUnauthenticated: number;
}

function connectionFields(defaults: ConnectionCapDefaults) {
  return {
    /** From the TCP connection until the client proved who it is. */
    unauthenticatedTimeout: durationSchema('10s', { minMs: 100, maxMs: 600_000 }),
    /** HTTP/1.1: a request's headers, from its first byte. */
    headersTimeout: durationSchema('10s', { minMs: 100, maxMs: 600_000 }),
    /** No request for this long: the connection is closed (HTTP/2 with GOAWAY). */
    idleTimeout: durationSchema('60s', { minMs: 1000, maxMs: 86_400_000 }),
    /** A request body slower than this over a whole window is cut off. */
    minBodyBytesPerSecond: wholeNumberSchema('bytes a second', 1, 1_000_000_000).default(1024),
    bodyRateWindow: durationSchema('10s', { minMs: 1000, maxMs: 600_000 }),
    /** Connections not yet authenticated (handshakes included) per source address (IPv6: per /64)... */
    maxUnauthenticatedPerAddress: wholeNumberSchema('connections', 1, 1_000_000).default(
      defaults.maxUnauthenticatedPerAddress,
    ),
    /** ...and in all. Past either, the oldest such connection is closed for the new one. */
    maxUnauthenticated: wholeNumberSchema('connections', 1, 1_000_000).default(defaults.maxUnauthenticated),
  };
}

const capsInOrder = {
  check: (c: ConnectionCapDefaults) => c.maxUnauthenticatedPerAddress <= c.maxUnauthenticated,
  message: 'expected maxUnauthenticatedPerAddress to be at most maxUnauthenticated',
};

/**
 * Deadlines and caps of a plain (no TLS) listener's connections (common/connection-guard.ts):
 * `agent.yaml admin.connections`.
 */
export function connectionLimitsSchema(defaults: ConnectionCapDefaults) {
  return z
    .object(connectionFields(defaults))
    .strict()
    .refine(capsInOrder.check, { message: capsInOrder.message, path: ['maxUnauthenticatedPerAddress'] })
    .prefault({});
}

/** The same for a TLS listener, with the handshake's deadline: `hub.yaml connections`. */
export function tlsConnectionLimitsSchema(defaults: ConnectionCapDefaults) {
  return z
    .object({
      /** From the TCP connection to the end of the TLS handshake. */
      handshakeTimeout: durationSchema('10s', { minMs: 100, maxMs: 120_000 }),
      ...connectionFields(defaults),
    })
    .strict()
    .refine(capsInOrder.check, { message: capsInOrder.message, path: ['maxUnauthenticatedPerAddress'] })
    .prefault({});
}

/** The parsed section as the guard's limits (plain HTTP has no handshake: its deadline is moot). */
export function connectionLimitsOf(config: {
  handshakeTimeout?: number;
  unauthenticatedTimeout: number;
  headersTimeout: number;
  idleTimeout: number;
  minBodyBytesPerSecond: number;
  bodyRateWindow: number;
  maxUnauthenticatedPerAddress: number;
  maxUnauthenticated: number;
}): ConnectionLimits {
  return {
    handshakeTimeoutMs: config.handshakeTimeout ?? config.unauthenticatedTimeout,
    unauthenticatedTimeoutMs: config.unauthenticatedTimeout,
    headersTimeoutMs: config.headersTimeout,
    idleTimeoutMs: config.idleTimeout,
    minBodyBytesPerSecond: config.minBodyBytesPerSecond,
    bodyRateWindowMs: config.bodyRateWindow,
    maxUnauthenticatedPerAddress: config.maxUnauthenticatedPerAddress,
    maxUnauthenticated: config.maxUnauthenticated,
  };
}
