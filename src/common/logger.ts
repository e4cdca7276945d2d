// pino JSON logs. Secrets are redacted by path wherever they could appear. pino escapes C0 controls
// in strings itself; DEL, C1 and bidi controls (a station's host name, a technician's reason) are
// escaped too, so a log read on a terminal cannot act on it.

import { pino, type Logger } from 'pino';
import { escapeJsonControls } from './printable.js';

export type { Logger };

export const redactPaths = [
  'password',
  'token',
  'ticket',
  'secret',
  'key',
  'privateKey',
  '*.password',
  '*.token',
  '*.ticket',
  '*.secret',
  '*.privateKey',
  'req.headers.authorization',
  'headers.authorization',
  'headers["lifeline-ticket"]',
];

export function createLogger(options: { level?: string; name: string; destination?: number }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths: redactPaths, censor: '[redacted]' },
      hooks: { streamWrite: escapeJsonControls },
    },
    pino.destination({ dest: options.destination ?? 1, sync: false }),
  );
}

/** A logger that drops everything; for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
