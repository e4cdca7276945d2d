// "HOST:PORT" as given to --listen flags and config, with IPv6 in brackets.

import { BlockList, isIP } from 'node:net';
import { LifelineError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(text: string, what: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (!match || host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new LifelineError(
      'CONFIG_INVALID',
      `${what}: expected HOST:PORT such as 127.0.0.1:8443 or [::1]:8443, got ${JSON.stringify(text)}`,
    );
  }
  return { host, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * `localhost`, an address in 127.0.0.0/8, or ::1 (also written out, or IPv4-mapped): only this
 * machine reaches it. Any other name or address is not, whatever it resolves to today.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && loopback.check(host, family === 4 ? 'ipv4' : 'ipv6');
}
