// `callhome.redact` in agent.yaml: which kinds of names the agent replaces with pseudonyms in
// call-home payloads. Absent: nothing is redacted. Present: each kind is on unless set to false.

import { z } from 'zod';

const name = z.string().min(1).max(253).regex(/^\S+$/, 'expected a name without white space');

export const redactConfigSchema = z
  .object({
    /** This machine's host names, the extra ones below, and any dotted DNS-looking name. */
    hostnames: z.boolean().default(true),
    /** IPv4 and IPv6 addresses. */
    addresses: z.boolean().default(true),
    /** Accounts with uid >= 1000 in /etc/passwd, and the extra ones below. */
    usernames: z.boolean().default(true),
    extraHostnames: z.array(name).max(1000).default([]),
    extraUsernames: z.array(name).max(1000).default([]),
  })
  .strict();

export type RedactConfig = z.infer<typeof redactConfigSchema>;
