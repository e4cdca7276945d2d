// The appliance's named services, the targets sessions reach: adding, changing and removing one.
// Each change is written in one transaction with its audit entry, through the AuditLog of the
// running agent or, when none runs, the one the CLI opens on agent.db.

import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { LifelineError } from '../../common/errors.js';
import { isServiceName } from '../../protocol/index.js';
import type { AuditLog } from '../audit/index.js';

/** A service's name and the address on this appliance that sessions to it connect to. */
export interface ServiceTarget {
  name: string;
  host: string;
  port: number;
}

/**
 * Loopback or one of this machine's own addresses, in canonical form; anything else is refused
 * with POLICY_TARGET_INVALID, the message starting with `field` (the flag or key it came from).
 */
export function checkServiceHost(host: string, field: string): string {
  const candidate = host === 'localhost' ? '127.0.0.1' : host;
  const family = isIP(candidate);
  if (family === 0) {
    throw new LifelineError(
      'POLICY_TARGET_INVALID',
      `${field}: expected an IP address of this appliance (such as 127.0.0.1), got ${JSON.stringify(host)}`,
    );
  }
  if (family === 4 && candidate.startsWith('127.')) return candidate;
  if (candidate === '::1') return candidate;
  const own = Object.values(networkInterfaces())
    .flat()
    .map((i) => i?.address);
  if (own.includes(candidate)) return candidate;
  throw new LifelineError(
    'POLICY_TARGET_INVALID',
    `${field}: ${host} is not loopback nor an address of this appliance`,
  );
}

/** Adds the service, or changes its address; audited as `service.add`. Answers what was stored. */
export async function putService(
  audit: Pick<AuditLog, 'record'>,
  service: ServiceTarget,
  actor: string,
): Promise<ServiceTarget> {
  if (!isServiceName(service.name)) {
    throw new LifelineError(
      'API_BAD_REQUEST',
      'service name: expected a lower-case letter, then up to 31 letters, digits or dashes',
    );
  }
  if (!(Number.isInteger(service.port) && service.port >= 1 && service.port <= 65535)) {
    throw new LifelineError('API_BAD_REQUEST', `port: expected a TCP port 1-65535, got ${service.port}`);
  }
  const target = { name: service.name, host: checkServiceHost(service.host, 'host'), port: service.port };
  await audit.record(
    actor,
    'service.add',
    { service: target.name, host: target.host, port: target.port },
    { putService: target },
  );
  return target;
}

/** Removes the service; audited as `service.remove`. POLICY_SERVICE_UNKNOWN when there is none. */
export async function deleteService(
  audit: Pick<AuditLog, 'record'>,
  name: string,
  actor: string,
): Promise<void> {
  await audit.record(actor, 'service.remove', { service: name }, { removeService: name });
}
