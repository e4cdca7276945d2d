// The files of attachments as support and retention see them: one readable once verified,
// deleted by support or purged by retention (the bytes go, the row stays, marked), and the bytes
// of an upload left unfinished dropped. The bytes themselves are the blob store's (blob-store.ts).

import { createHash } from 'node:crypto';
import { LifelineError } from '../../common/errors.js';
import type { HubAttachment } from '../store/index.js';
import type { HubStore } from '../store/index.js';
import type { BlobKey, BlobStore } from './blob-store.js';

/** A file retention removed, as its audit entry names it: `bytes` is what it held. */
export interface RemovedFile {
  id: string;
  stationId: string;
  problemNumber: string | null;
  name: string;
  bytes: number;
}

/** The blob of an attachment. */
export function blobKeyOf(attachment: Pick<HubAttachment, 'stationId' | 'id'>): BlobKey {
  return { stationId: attachment.stationId, id: attachment.id };
}

/** SHA-256 of the first `bytes` bytes of a sealed blob, read in large blocks. */
export async function hashBlob(blobs: BlobStore, key: BlobKey, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  if (bytes === 0) return hash.digest('hex');
  let done = 0;
  for await (const block of await blobs.read(key, { start: 0, end: bytes })) {
    hash.update(block as Buffer);
    done += (block as Buffer).byteLength;
  }
  if (done !== bytes)
    throw new LifelineError(
      'CALLHOME_ATTACHMENT_CHECKSUM',
      `${blobs.describe(key)} holds ${done} bytes, not ${bytes}`,
    );
  return hash.digest('hex');
}

/** An attachment whose file can still be read, or the reason it cannot. */
export async function readableAttachment(store: HubStore, id: string): Promise<HubAttachment> {
  const attachment = await store.attachments.get(id);
  if (!attachment) throw new LifelineError('CALLHOME_ATTACHMENT_NOT_FOUND', `no attachment ${id}`);
  if (attachment.state === 'deleted' || attachment.state === 'purged') {
    throw new LifelineError(
      'CALLHOME_ATTACHMENT_GONE',
      `the file of attachment ${id} was ${attachment.state} at ${new Date(attachment.removedAtMs ?? 0).toISOString()}`,
    );
  }
  if (attachment.state !== 'complete') {
    throw new LifelineError(
      'CALLHOME_ATTACHMENT_INCOMPLETE',
      `attachment ${id} is not complete: ${attachment.receivedBytes} of ${attachment.bytes} bytes received`,
    );
  }
  return attachment;
}

/** Deletes an attachment's file (support engineer); the row stays, marked deleted. */
export async function deleteAttachment(options: {
  store: HubStore;
  blobs: BlobStore;
  id: string;
  nowMs: number;
}): Promise<HubAttachment> {
  const attachment = await options.store.attachments.get(options.id);
  if (!attachment) throw new LifelineError('CALLHOME_ATTACHMENT_NOT_FOUND', `no attachment ${options.id}`);
  if (attachment.state === 'deleted' || attachment.state === 'purged') {
    throw new LifelineError(
      'CALLHOME_ATTACHMENT_GONE',
      `the file of attachment ${options.id} was ${attachment.state} already`,
    );
  }
  // Row first: a crash between the two leaves a file nobody lists, never a row pointing at nothing.
  await options.store.attachments.markRemoved(attachment.id, 'deleted', options.nowMs);
  await options.blobs.remove(blobKeyOf(attachment));
  return attachment;
}

/**
 * Retention: removes the files of complete uploads verified before `cutoffMs` and marks their rows
 * purged; problem reports are not touched. Returns what was purged, for the audit log.
 */
export async function purgeAttachmentsReceivedBefore(options: RetentionFileOptions): Promise<RemovedFile[]> {
  const nowMs = options.nowMs ?? Date.now();
  const purged: RemovedFile[] = [];
  for (const attachment of await options.store.attachments.listCompleteBefore(options.cutoffMs)) {
    await options.store.attachments.markRemoved(attachment.id, 'purged', nowMs);
    await options.blobs.remove(blobKeyOf(attachment));
    purged.push(removedFile(attachment, attachment.bytes));
  }
  return purged;
}

/** What retention works on: the store, the blob store, the cutoff, and the time to record. */
interface RetentionFileOptions {
  store: HubStore;
  blobs: BlobStore;
  cutoffMs: number;
  nowMs?: number;
}

function removedFile(attachment: HubAttachment, bytes: number): RemovedFile {
  const { id, stationId, problemNumber, name } = attachment;
  return { id, stationId, problemNumber, name, bytes };
}

/**
 * Retention of unfinished uploads: an upload still receiving that nothing has touched since before
 * `cutoffMs` (its station went away mid-upload) loses its partial file and goes back to byte 0, so
 * it resumes from the start if its station ever comes back. Returns those whose file held bytes,
 * with the bytes freed, for the audit log.
 */
export async function discardUnfinishedUploadsIdleSince(
  options: RetentionFileOptions,
): Promise<RemovedFile[]> {
  const nowMs = options.nowMs ?? Date.now();
  const discarded: RemovedFile[] = [];
  for (const upload of await options.store.attachments.listReceivingIdleSince(options.cutoffMs)) {
    // Row first, and only if still idle: a chunk that arrived meanwhile keeps the upload whole.
    if (!(await options.store.attachments.discardUnfinished(upload.id, options.cutoffMs, nowMs))) continue;
    const bytes = await options.blobs.remove(blobKeyOf(upload));
    if (bytes > 0 || upload.receivedBytes > 0) discarded.push(removedFile(upload, bytes));
  }
  return discarded;
}
