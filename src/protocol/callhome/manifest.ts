// The manifest every call-home transmission carries: what it contains, how many bytes, and their
// SHA-256. The agent logs it beside the transmission; the hub checks it against the bytes received
// and refuses a transmission whose bytes do not match what the manifest says.

import { createHash } from 'node:crypto';
import { z } from 'zod';

/** HTTP header holding the manifest, as base64url JSON. */
export const manifestHeader = 'lifeline-manifest';

const sha256Pattern = /^[0-9a-f]{64}$/;

export const manifestPartSchema = z
  .object({
    name: z.string().min(1).max(255),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(sha256Pattern),
    /** For people: what this part holds (a report of a batch: "problem.open PB-…: Fan 3 failed"). */
    contains: z.string().max(200).optional(),
  })
  .strict();

export const manifestSchema = z
  .object({
    /** A report kind, or an upload step: attachment.start, attachment.chunk, attachment.complete. */
    kind: z.string().min(1).max(64),
    /** The report or attachment id. */
    id: z.string().min(1).max(64),
    /** Size and SHA-256 of the request body exactly as sent. */
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(sha256Pattern),
    /** For people: what the body holds, in a line. */
    contains: z.string().max(500),
    /** Files or file ranges the transmission carries, when it carries any. */
    parts: z.array(manifestPartSchema).max(100).optional(),
  })
  .strict();

export type Manifest = z.infer<typeof manifestSchema>;

export function sha256Of(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/** Describes a body about to be sent. */
export function buildManifest(
  body: string | Uint8Array,
  fields: {
    kind: string;
    id: string;
    contains: string;
    parts?: Manifest['parts'];
    /** The body's SHA-256 when the caller hashed it already (a chunk hashed as it was read). */
    sha256?: string;
  },
): Manifest {
  const bytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  return {
    kind: fields.kind,
    id: fields.id,
    bytes,
    sha256: fields.sha256 ?? sha256Of(body),
    contains: fields.contains,
    ...(fields.parts ? { parts: fields.parts } : {}),
  };
}

export function encodeManifest(manifest: Manifest): string {
  return Buffer.from(JSON.stringify(manifest), 'utf8').toString('base64url');
}

/** Parses a manifest header; returns a reason instead when it is missing or malformed. */
export function decodeManifest(header: string | string[] | undefined): Manifest | string {
  if (typeof header !== 'string' || header.length === 0) return `the ${manifestHeader} header is missing`;
  if (header.length > 32_768) return `the ${manifestHeader} header is too long`;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    return `the ${manifestHeader} header is not base64url JSON`;
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success)
    return `the ${manifestHeader} header is invalid: ${parsed.error.issues
      .map((i) => `${i.path.join('.') || 'manifest'}: ${i.message}`)
      .join('; ')}`;
  return parsed.data;
}

/** Checks the body received against its manifest; returns a reason when they differ. */
export function checkManifest(manifest: Manifest, body: string | Uint8Array): string | undefined {
  const bytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  if (bytes !== manifest.bytes) return `the manifest says ${manifest.bytes} bytes, ${bytes} arrived`;
  const sha256 = sha256Of(body);
  if (sha256 !== manifest.sha256) return 'the SHA-256 of the bytes received differs from the manifest';
  return undefined;
}
