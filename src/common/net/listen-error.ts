// A listener that cannot bind its address says which address, for which listener, why, and which
// setting chooses another: an administrator reads it once, at start-up, and fixes it from there.

import { LifelineError } from '../errors.js';
import { formatHostPort, type HostPort } from './host-port.js';

const reasons: Record<string, string> = {
  EADDRINUSE: 'the address is in use (another process listens on it)',
  EACCES: 'permission denied (a port below 1024 needs privileges)',
  EADDRNOTAVAIL: 'no interface of this machine has that address',
};

/**
 * API_LISTEN_FAILED for `err`, a failed listen() of `listener` (such as "the admin API") on
 * `address`; `settings` names where the address is chosen. The original error is the cause.
 */
export function listenError(
  err: unknown,
  listener: string,
  address: HostPort,
  settings: string,
): LifelineError {
  const code = (err as { code?: unknown } | null)?.code;
  const reason =
    (typeof code === 'string' ? reasons[code] : undefined) ??
    (err instanceof Error ? err.message : String(err));
  return new LifelineError(
    'API_LISTEN_FAILED',
    `${listener} cannot listen on ${formatHostPort(address)}: ${reason}; choose another address with ${settings}`,
    { cause: err },
  );
}
