// The upload channel's frames (ALPN lifeline-upload/1). Agent to hub, one frame per chunk: a 4-byte
// big-endian length, that many bytes of JSON head (which attachment, which chunk, its manifest as
// the call-home header would carry it, its size), then the chunk's bytes. Hub to agent, one JSON
// line per chunk, in the order the hub finished them: the sequence number of the frame, and the
// status and body the HTTP/2 route would have answered. A line with sequence number 0 answers the
// connection itself (the station was refused, or a frame could not be read) and ends it.

import { z } from 'zod';
import { attachmentIdPattern, maxChunkBytes } from './attachments.js';

/** A frame head longer than this is refused: a manifest is a few hundred bytes. */
export const maxUploadFrameHeadBytes = 40 * 1024;

export const uploadFrameHeadSchema = z
  .object({
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    id: z.string().regex(attachmentIdPattern, 'an attachment id: 32 hex digits'),
    index: z.number().int().nonnegative().max(1_000_000),
    bytes: z.number().int().nonnegative().max(maxChunkBytes),
    /** The encoded manifest, as in the lifeline-manifest header of the chunk's PUT. */
    manifest: z.string().min(1).max(32_768),
  })
  .strict();

export type UploadFrameHead = z.infer<typeof uploadFrameHeadSchema>;

export const uploadAnswerSchema = z
  .object({
    seq: z.number().int().nonnegative(),
    status: z.number().int().min(100).max(599),
    /** The answer's JSON body, exactly as the hub wrote it (the agent logs it as the answer). */
    answer: z.string(),
  })
  .strict();

export type UploadAnswer = z.infer<typeof uploadAnswerSchema>;

/** The bytes before a chunk's body: length prefix and head. */
export function encodeUploadFrameHead(head: UploadFrameHead): Buffer {
  const json = Buffer.from(JSON.stringify(head), 'utf8');
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(json.byteLength, 0);
  return Buffer.concat([prefix, json]);
}

export function encodeUploadAnswer(answer: UploadAnswer): Buffer {
  return Buffer.from(`${JSON.stringify(answer)}\n`, 'utf8');
}
