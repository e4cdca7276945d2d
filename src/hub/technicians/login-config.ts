// hub.yaml `login:`: how many failed logins the hub takes, and how it slows them down (the
// limiter that applies them is login-limiter.ts).

import { z } from 'zod';
import { durationSchema as duration, wholeNumberSchema } from '../../common/config/index.js';

const failureCount = (what: string) => wholeNumberSchema(`failed logins per ${what}`, 1, 10_000);

export const loginDefaults = {
  maxFailuresPerUser: 10,
  maxFailuresPerAddress: 30,
  window: 15 * 60_000,
  backoff: 1000,
  maxBackoff: 15 * 60_000,
} as const;

/** hub.yaml `login:`: how many failed logins the hub takes, and how it slows them down. */
export const loginConfigSchema = z
  .object({
    maxFailuresPerUser: failureCount('user').default(loginDefaults.maxFailuresPerUser),
    maxFailuresPerAddress: failureCount('address').default(loginDefaults.maxFailuresPerAddress),
    /** Failures older than this no longer count. */
    window: duration('15m', { minMs: 1000, maxMs: 86_400_000 }),
    /** The wait after a second failure of a user from an address; it doubles with each further one. */
    backoff: duration('1s', { minMs: 1, maxMs: 3_600_000 }),
    /** The longest such wait. */
    maxBackoff: duration('15m', { minMs: 1, maxMs: 86_400_000 }),
  })
  .strict()
  .refine((login) => login.backoff <= login.maxBackoff, {
    message: 'expected backoff to be at most maxBackoff',
    path: ['backoff'],
  })
  .default({ ...loginDefaults });

export type LoginConfig = z.infer<typeof loginConfigSchema>;
