// Building blocks of the config schemas: durations ("30s", "15m") and HOST:PORT addresses, each
// with an error that names the expected form.

import { z } from 'zod';
import { formatDurationMs, parseDurationMs } from './duration.js';
import { parseHostPort } from './host-port.js';

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
