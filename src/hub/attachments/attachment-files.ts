// The hub's attachment files: HUBDIR/attachments/<stationId>/<id>. Chunks are written in place at
// their offset and synced before the store records them (attachment-writer.ts), so the store never
// claims bytes the disk does not hold. Deleting (support) and purging (retention) remove the file
// and keep the row; retention also drops the partial file of an upload left unfinished.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LifelineError } from '../../common/errors.js';
import { privateDirectoryMode, privateFileMode } from '../../common/disk/index.js';
import type { HubAttachment } from '../store/index.js';
import type { HubStore } from '../store/index.js';

export function attachmentsDirOf(hubDataDir: string): string {
  return join(hubDataDir, 'attachments');
}

/** A file retention removed, as its audit entry names it: `bytes` is what it held. */
export interface RemovedFile {
  id: string;
  stationId: string;
  problemNumber: string | null;
  name: string;
  bytes: number;
}

/** Station ids and attachment ids are checked on the way in, so they are safe path parts. */
export function attachmentFilePath(attachmentsDir: string, stationId: string, id: string): string {
  return join(attachmentsDir, stationId, id);
}

/** Makes the file exactly `bytes` long (an empty upload has no chunk to create it). */
export async function settleFileLength(path: string, dir: string, bytes: number): Promise<void> {
  if (bytes === 0) {
    await mkdir(dir, { recursive: true, mode: privateDirectoryMode });
    await writeFile(path, '', { mode: privateFileMode });
    return;
  }
  await truncate(path, bytes);
}

/** SHA-256 of the first `bytes` bytes of a file, reading in large blocks. */
export async function hashFile(
  path: string,
  bytes: number,
  onProgress?: (doneBytes: number) => void,
): Promise<string> {
  const hash = createHash('sha256');
  if (bytes === 0) return hash.digest('hex');
  let done = 0;
  for await (const block of createReadStream(path, {
    start: 0,
    end: bytes - 1,
    highWaterMark: 4 * 1024 * 1024,
  })) {
    hash.update(block as Buffer);
    done += (block as Buffer).byteLength;
    onProgress?.(done);
  }
  if (done !== bytes)
    throw new LifelineError('CALLHOME_ATTACHMENT_CHECKSUM', `${path} holds ${done} bytes, not ${bytes}`);
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
  attachmentsDir: string;
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
  await rm(attachmentFilePath(options.attachmentsDir, attachment.stationId, attachment.id), { force: true });
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
    await rm(attachmentFilePath(options.attachmentsDir, attachment.stationId, attachment.id), {
      force: true,
    });
    purged.push(removedFile(attachment, attachment.bytes));
  }
  return purged;
}

/** What retention works on: the store, the files' directory, the cutoff, and the time to record. */
interface RetentionFileOptions {
  store: HubStore;
  attachmentsDir: string;
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
    const path = attachmentFilePath(options.attachmentsDir, upload.stationId, upload.id);
    const bytes = await stat(path).then(
      (found) => found.size,
      () => 0,
    );
    await rm(path, { force: true });
    if (bytes > 0 || upload.receivedBytes > 0) discarded.push(removedFile(upload, bytes));
  }
  return discarded;
}
