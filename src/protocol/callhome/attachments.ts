// Extended error data on the wire: a file attached to a problem, uploaded in fixed-size chunks, each
// with a manifest (size and SHA-256), resumable from the hub's count of bytes received, and verified
// whole at the end. The agent chooses the id; the hub accepts chunks only in order.

import { z } from 'zod';

export const attachmentIdPattern = /^[0-9a-f]{32}$/;
export const problemLocalIdPattern = /^PB-[0-9A-Z]{6}$/;

export const defaultChunkBytes = 8 * 1024 * 1024;
export const maxChunkBytes = 16 * 1024 * 1024;
/** Chunks smaller than this would make an upload mostly round trips. */
export const minChunkBytes = 64 * 1024;
/** The largest file either side accepts. */
export const maxAttachmentBytes = 64 * 1024 * 1024 * 1024;

/** Manifest kinds of the upload steps, as logged by the agent. */
export const attachmentStepKinds = ['attachment.start', 'attachment.chunk', 'attachment.complete'] as const;
export type AttachmentStepKind = (typeof attachmentStepKinds)[number];

/** A file name as shown to people: no path, no control characters. */
export const attachmentNameSchema = z
  .string()
  .min(1)
  .max(255)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^/\\\u0000-\u001f\u007f]+$/, 'a file name without a path or control characters')
  .refine((name) => name !== '.' && name !== '..', 'a file name');

export const attachmentStartSchema = z
  .object({
    id: z.string().regex(attachmentIdPattern, 'an attachment id: 32 hex digits'),
    problemLocalId: z.string().regex(problemLocalIdPattern, "the problem's local id, PB-XXXXXX"),
    name: attachmentNameSchema,
    bytes: z.number().int().nonnegative().max(maxAttachmentBytes),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256: 64 lower-case hex digits'),
    chunkBytes: z.number().int().min(minChunkBytes).max(maxChunkBytes),
  })
  .strict();

export type AttachmentStart = z.infer<typeof attachmentStartSchema>;

/** The hub's answer to start, chunk, state and complete. */
export const attachmentStateSchema = z.object({
  id: z.string(),
  receivedBytes: z.number().int().nonnegative(),
  complete: z.boolean(),
  /** The chunk this answer is about (chunk uploads only). */
  index: z.number().int().nonnegative().optional(),
  /** True when the chunk had been received before: nothing was written. */
  duplicate: z.boolean().optional(),
  problemNumber: z.string().nullable().optional(),
});

export type AttachmentState = z.infer<typeof attachmentStateSchema>;

export function chunkCount(bytes: number, chunkBytes: number): number {
  return Math.ceil(bytes / chunkBytes);
}

/** The byte range [start, end) of chunk `index`. */
export function chunkRange(index: number, bytes: number, chunkBytes: number): { start: number; end: number } {
  const start = index * chunkBytes;
  return { start, end: Math.min(bytes, start + chunkBytes) };
}

/** The manifest's `contains` line of a chunk, for people reading the transmission log. */
export function chunkContains(
  index: number,
  upload: { name: string; problemLocalId: string; bytes: number; chunkBytes: number },
): string {
  return `chunk ${index + 1} of ${chunkCount(upload.bytes, upload.chunkBytes)} of ${upload.name} (${upload.problemLocalId})`;
}
