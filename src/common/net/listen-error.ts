// Why a server could not listen, said with the address and the setting that named it: a port in use
// by another process is a configuration to change, not an internal error.

import { LifelineError } from '../errors.js';
import { formatHostPort, type HostPort } from './host-port.js';

const reasons: Record<string, string> = {
  EADDRINUSE: 'the address is in use (another process listens on it)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine',
};

/**
 * CONFIG_INVALID naming what failed to listen (`the technician API`), where, and the setting to
 * change (`apiListen in hub.yaml`); the system error is the cause.
 */
export function listenError(err: unknown, what: string, address: HostPort, setting: string): LifelineError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = (code && reasons[code]) ?? (err instanceof Error ? err.message : String(err));
  return new LifelineError(
    'CONFIG_INVALID',
    `${what} cannot listen on ${formatHostPort(address)} (${setting}): ${reason}`,
    { cause: err },
  );
}
