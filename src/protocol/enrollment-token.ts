// Enrollment tokens: one string that carries the hub's station address, a pin of the hub CA
// (SHA-256 of its DER) and the single-use secret. The hub keeps only a hash of the secret.

import { z } from 'zod';
import { LifelineError } from '../common/errors.js';

const prefix = 'LLE1.';

export const enrollmentTokenSchema = z
  .object({
    hub: z.string().min(3).max(300),
    caSha256: z.string().regex(/^[0-9a-f]{64}$/),
    secret: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  })
  .strict();

export type EnrollmentToken = z.infer<typeof enrollmentTokenSchema>;

export function encodeEnrollmentToken(token: EnrollmentToken): string {
  return prefix + Buffer.from(JSON.stringify(token)).toString('base64url');
}

export function decodeEnrollmentToken(text: string): EnrollmentToken {
  const trimmed = text.trim();
  const invalid = (why: string) =>
    new LifelineError('ENROLL_TOKEN_INVALID', `not a Lifeline enrollment token: ${why}`);
  if (!trimmed.startsWith(prefix)) throw invalid(`expected it to start with ${prefix}`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(trimmed.slice(prefix.length), 'base64url').toString('utf8'));
  } catch {
    throw invalid('it is damaged (not base64url JSON)');
  }
  const parsed = enrollmentTokenSchema.safeParse(json);
  if (!parsed.success) throw invalid('it is damaged (fields missing or malformed)');
  return parsed.data;
}
