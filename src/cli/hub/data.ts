// `lifeline hub data get|delete`: a support engineer offloads a problem's error data (copied and
// verified against the SHA-256 the upload was checked with) or deletes it from the hub.

import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { LifelineError } from '../../common/errors.js';
import { privateFileMode } from '../../common/disk/index.js';
import { blobKeyOf, deleteAttachment, readableAttachment } from '../../hub/attachments/index.js';
import { attachmentIdPattern } from '../../protocol/index.js';
import { formatBytes } from '../../common/bytes.js';
import { startByteProgress } from '../fix-progress.js';
import { withBlobStore, withStore } from './hub.js';
import { printLine, tty } from '../io.js';

function checkId(id: string): string {
  if (!attachmentIdPattern.test(id)) {
    throw new LifelineError(
      'API_BAD_REQUEST',
      `expected an attachment id (32 hex digits, see hub problem show), got ${JSON.stringify(id)}`,
    );
  }
  return id;
}

/** Adds `get` and `delete` to the `hub data` group (see hubDataGroup in hub-data-request.ts). */
export function registerHubDataCommands(data: Command): void {
  data
    .command('get <attachment>')
    .description("copy a problem's data file off the hub, verifying its SHA-256")
    .requiredOption('--data <dir>', 'hub data directory')
    .requiredOption('--out <file>', 'where to write the copy')
    .action(async (id: string, opts: { data: string; out: string }) => {
      checkId(id);
      const attachment = await withStore(opts.data, async (store) => {
        const found = await readableAttachment(store, id);
        await store.appendAudit({
          atMs: Date.now(),
          actor: 'support@cli',
          action: 'data.offloaded',
          stationId: found.stationId,
          detail: {
            attachmentId: id,
            problemNumber: found.problemNumber,
            name: found.name,
            bytes: found.bytes,
          },
        });
        return found;
      });
      const hash = createHash('sha256');
      const progress = startByteProgress(tty`Copying ${attachment.name}`, attachment.bytes);
      let copied = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          copied += chunk.byteLength;
          progress.update(copied);
          done(null, chunk);
        },
      });
      try {
        // Customer data: 0600, also when --out names a file that exists with a looser mode.
        const out = await open(opts.out, 'w', privateFileMode);
        await out.chmod(privateFileMode);
        await withBlobStore(opts.data, async (blobs) =>
          pipeline(await blobs.read(blobKeyOf(attachment)), meter, out.createWriteStream()),
        );
      } catch (err) {
        await rm(opts.out, { force: true });
        throw new LifelineError(
          'API_BAD_REQUEST',
          `cannot copy ${attachment.name} to ${opts.out}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      } finally {
        progress.stop();
      }
      const sha256 = hash.digest('hex');
      if (copied !== attachment.bytes || sha256 !== attachment.sha256) {
        await rm(opts.out, { force: true });
        throw new LifelineError(
          'CALLHOME_ATTACHMENT_CHECKSUM',
          `the file on the hub's disk no longer matches what was uploaded (${copied} bytes, SHA-256 ${sha256}; expected ${attachment.bytes} bytes, ${attachment.sha256}): the copy was removed`,
        );
      }
      printLine(
        tty`${attachment.name} (${formatBytes(attachment.bytes)}) written to ${opts.out}; SHA-256 ${sha256} verified`,
      );
    });

  data
    .command('delete <attachment>')
    .description("delete a problem's data file from the hub (its record stays, marked deleted)")
    .requiredOption('--data <dir>', 'hub data directory')
    .action(async (id: string, opts: { data: string }) => {
      checkId(id);
      const nowMs = Date.now();
      const deleted = await withStore(opts.data, async (store) => {
        const removed = await withBlobStore(opts.data, (blobs) =>
          deleteAttachment({ store, blobs, id, nowMs }),
        );
        await store.appendAudit({
          atMs: nowMs,
          actor: 'support@cli',
          action: 'data.deleted',
          stationId: removed.stationId,
          detail: {
            attachmentId: id,
            problemNumber: removed.problemNumber,
            name: removed.name,
            bytes: removed.bytes,
            sha256: removed.sha256,
          },
        });
        return removed;
      });
      printLine(
        tty`Deleted ${deleted.name} (${formatBytes(deleted.bytes)}) of problem ${deleted.problemNumber ?? deleted.problemLocalId}`,
      );
    });
}
