// Fixes on the wire: the statement the hub signs for each published fix (what the file is, whom it
// is for, its size and SHA-256) and the names it may use. The signature is the pki's business.

import { z } from 'zod';

/** The JWS `typ` of a fix statement; a token of another kind never passes for one. */
export const fixStatementType = 'lifeline-fix+json';

export const fixNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const fixVersionPattern = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
/** A file name without any directory: it becomes the name of the downloaded file on the appliance. */
export const fixFilePattern = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
export const applianceModelPattern = /^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}$/;

export const fixNameSchema = z
  .string()
  .regex(fixNamePattern, 'expected a letter or digit, then up to 63 letters, digits, . _ or -');
export const fixVersionSchema = z
  .string()
  .regex(fixVersionPattern, 'expected a letter or digit, then up to 63 letters, digits, . _ + or -');
export const applianceModelSchema = z
  .string()
  .regex(
    applianceModelPattern,
    'expected a letter or digit, then up to 63 letters, digits, spaces, . _ + or -',
  );

export const fixStatementSchema = z
  .object({
    name: fixNameSchema,
    version: fixVersionSchema,
    file: z.string().regex(fixFilePattern, 'a file name without directories'),
    /** Appliance models the fix is for; empty: every model. */
    appliesTo: z.array(applianceModelSchema).max(100),
    size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    publishedAt: z.iso.datetime(),
    description: z.string().max(2000).optional(),
  })
  .strict();

export type FixStatement = z.infer<typeof fixStatementSchema>;

/** What `GET /v1/fixes` answers: each fix as its signed statement (compact JWS). */
export const fixCatalogSchema = z
  .object({ fixes: z.array(z.object({ statement: z.string().max(16_384) }).strict()).max(10_000) })
  .strict();

/** Whether a fix is for an appliance of `model` (undefined: the model is not known). */
export function fixAppliesTo(statement: Pick<FixStatement, 'appliesTo'>, model: string | undefined): boolean {
  if (statement.appliesTo.length === 0) return true;
  return model !== undefined && statement.appliesTo.includes(model);
}
