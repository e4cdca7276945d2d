// The hub's attachment files: HUBDIR/attachments/<stationId>/<id>. Chunks are written in place at
// their offset and synced before the store records them (attachment-writer.ts), so the store never
// claims bytes the disk does not hold. Deleting (support) and purging (retention) remove the file
// and keep the row.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LifelineError } from '../common/errors.js';
import type { HubAttachment, HubStore } from '../store/index.js';

export function attachmentsDirOf(hubDataDir: string): string {
  return join(hubDataDir, 'attachments');
}

/** Station ids and attachment ids are checked on the way in, so they are safe path parts. */
export function attachmentFilePath(attachmentsDir: string, stationId: string, id: string): string {
  return join(attachmentsDir, stationId, id);
}

/** Makes the file exactly `bytes` long (an empty upload has no chunk to create it). */
export async function settleFileLength(path: string, dir: string, bytes: number): Promise<void> {
  if (bytes === 0) {
    await mkdir(dir, { recursive: true });
    await writeFile(path, '');
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
export async function purgeAttachmentsReceivedBefore(options: {
  store: HubStore;
  attachmentsDir: string;
  cutoffMs: number;
  nowMs?: number;
}): Promise<
  Array<{ id: string; stationId: string; problemNumber: string | null; name: string; bytes: number }>
> {
  const nowMs = options.nowMs ?? Date.now();
  const purged: Array<{
    id: string;
    stationId: string;
    problemNumber: string | null;
    name: string;
    bytes: number;
  }> = [];
  for (const attachment of await options.store.attachments.listCompleteBefore(options.cutoffMs)) {
    await options.store.attachments.markRemoved(attachment.id, 'purged', nowMs);
    await rm(attachmentFilePath(options.attachmentsDir, attachment.stationId, attachment.id), {
      force: true,
    });
    purged.push({
      id: attachment.id,
      stationId: attachment.stationId,
      problemNumber: attachment.problemNumber,
      name: attachment.name,
      bytes: attachment.bytes,
    });
  }
  return purged;
}
