// Names of appliance services ("ssh", "web"): a technician asks for a name, never an address.
// The grammar starts with a letter and has no dots or colons, so no spelling of an IP address
// (2130706433, 0x7f.1, 127.1, ::ffff:127.0.0.1) or host name can pass as a service name.

import { z } from 'zod';

export const serviceNamePattern = /^[a-z][a-z0-9-]{0,31}$/;

export const serviceNameSchema = z
  .string()
  .regex(serviceNamePattern, 'a service name: a lower-case letter, then up to 31 letters, digits or dashes');

export function isServiceName(value: string): boolean {
  return serviceNamePattern.test(value);
}
