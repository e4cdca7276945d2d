// "HOST:PORT" as given to --listen flags and config, with IPv6 in brackets.

import { LifelineError } from './errors.js';

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
