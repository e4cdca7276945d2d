// Call-home routes of extended error data: a station starts an upload, sends chunks in order (each
// checked against its manifest, written at its offset and synced before it counts), asks where it
// stands after an interruption, and completes it once the hub verified the whole file.

import { createHash, type Hash } from 'node:crypto';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { dirname } from 'node:path';
import type { Clock } from '../common/clock.js';
import { LifelineError } from '../common/errors.js';
import {
  attachmentIdPattern,
  attachmentStartSchema,
  checkManifest,
  chunkRange,
  decodeManifest,
  manifestHeader,
  maxChunkBytes,
  type AttachmentState,
} from '../protocol/index.js';
import type { HubAttachment, HubStore } from '../store/index.js';
import { attachmentFilePath, hashFile, settleFileLength, writeChunkAt } from './attachment-files.js';
import type { HubAudit } from './hub-audit.js';
import { callingStation } from './callhome-station-routes.js';

export interface AttachmentRouteOptions {
  store: HubStore;
  audit: HubAudit;
  clock: Clock;
  attachmentsDir: string;
}

/** How long a chunk that arrived ahead of its turn waits for the one before it. */
const chunkWaitMs = 10_000;
/**
 * How many chunks past the next expected one may arrive and wait (the agent keeps
 * chunksAhead + 1 on the wire): at most this many chunks of an upload are held in memory.
 */
const chunksAhead = 3;
const waitForTurn = Symbol('wait for the chunk before');

const idParams = z.object({ id: z.string().regex(attachmentIdPattern, 'an attachment id: 32 hex digits') });
const chunkParams = idParams.extend({ index: z.coerce.number().int().nonnegative().max(1_000_000) });

function stateOf(attachment: HubAttachment, extra: Partial<AttachmentState> = {}): AttachmentState {
  return {
    id: attachment.id,
    receivedBytes: attachment.state === 'receiving' ? attachment.receivedBytes : attachment.bytes,
    complete: attachment.state !== 'receiving',
    problemNumber: attachment.problemNumber,
    ...extra,
  };
}

/** Registers the routes in their own plugin context: the raw-bytes parser applies to them alone. */
export function registerAttachmentRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: AttachmentRouteOptions,
): void {
  void app.register(async (child) => {
    // A chunk is hashed and checked whole before any byte of it is written: buffered, bounded.
    child.addContentTypeParser(
      'application/octet-stream',
      { parseAs: 'buffer', bodyLimit: maxChunkBytes + 1024 },
      (_request, body, done) => done(null, body),
    );
    attachmentRoutes(child, options);
  });
}

function attachmentRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: AttachmentRouteOptions,
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { store, audit, clock, attachmentsDir } = options;
  // One step at a time per attachment: a chunk resent while its first copy is still being
  // written waits, then finds it received.
  const busy = new Map<string, Promise<unknown>>();
  const serially = async <T>(id: string, work: () => Promise<T>): Promise<T> => {
    const before = busy.get(id) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.catch(() => undefined);
    busy.set(id, settled);
    try {
      return await run;
    } finally {
      if (busy.get(id) === settled) busy.delete(id);
    }
  };

  // Chunks waiting for the one before them to be recorded, per attachment.
  const progressWaiters = new Map<string, Set<() => void>>();
  const notifyProgress = (id: string): void => {
    const waiters = progressWaiters.get(id);
    progressWaiters.delete(id);
    for (const wake of waiters ?? []) wake();
  };
  const nextProgress = (id: string, timeoutMs: number): Promise<void> =>
    new Promise((resolve) => {
      const waiters = progressWaiters.get(id) ?? new Set<() => void>();
      progressWaiters.set(id, waiters);
      const wake = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && progressWaiters.get(id) === waiters) progressWaiters.delete(id);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      waiters.add(wake);
    });

  const ownAttachment = async (stationId: string, id: string): Promise<HubAttachment> => {
    const attachment = await store.attachments.get(id);
    if (!attachment || attachment.stationId !== stationId) {
      throw new LifelineError('CALLHOME_ATTACHMENT_NOT_FOUND', `no attachment ${id} of this station`);
    }
    return attachment;
  };
  const pathOf = (a: HubAttachment) => attachmentFilePath(attachmentsDir, a.stationId, a.id);
  // The SHA-256 of each upload's bytes so far, fed by the chunks as they advance the resume point
  // in order (exactly the bytes written there), so completing does not read the file again. After
  // a hub restart the hash of the bytes before is unknown, and completing reads the file.
  const runningHashes = new Map<string, { hash: Hash; upTo: number }>();
  const followHash = (id: string, start: number, end: number, body: Buffer): void => {
    const running = runningHashes.get(id);
    if (start === 0) runningHashes.set(id, { hash: createHash('sha256').update(body), upTo: end });
    else if (running && running.upTo === start) {
      running.hash.update(body);
      running.upTo = end;
    } else runningHashes.delete(id);
  };
  // Refusals the agent acts on carry the hub's resume point beside the code.
  const refusal = (error: LifelineError, receivedBytes: number) => ({ ...error.toJSON(), receivedBytes });

  api.post('/v1/attachments', { schema: { body: attachmentStartSchema } }, async (request, reply) => {
    const { stationId } = await callingStation(request.raw, store);
    const { attachment, created } = await store.attachments.start(stationId, request.body, clock.now());
    return reply.code(created ? 201 : 200).send(stateOf(attachment));
  });

  api.get('/v1/attachments/:id', { schema: { params: idParams } }, async (request) => {
    const { stationId } = await callingStation(request.raw, store);
    return stateOf(await ownAttachment(stationId, request.params.id));
  });

  api.put(
    '/v1/attachments/:id/chunks/:index',
    { schema: { params: chunkParams }, bodyLimit: maxChunkBytes + 1024 },
    async (request, reply) => {
      const { stationId } = await callingStation(request.raw, store);
      const { id, index } = request.params;
      const body = request.body;
      if (!Buffer.isBuffer(body)) {
        throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', 'a chunk is sent as application/octet-stream');
      }
      const manifest = decodeManifest(request.headers[manifestHeader]);
      if (typeof manifest === 'string') throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', manifest);
      if (manifest.kind !== 'attachment.chunk' || manifest.id !== id) {
        throw new LifelineError(
          'CALLHOME_ATTACHMENT_INVALID',
          `the manifest describes ${manifest.kind} ${manifest.id}, not a chunk of attachment ${id}`,
        );
      }
      const mismatch = checkManifest(manifest, body);
      if (mismatch)
        throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', `chunk ${index} refused: ${mismatch}`);
      // The agent keeps several chunks in flight, so a chunk may finish arriving while the ones
      // before it are still being written: it waits for its turn (a while, then it is refused).
      let turn: Promise<void> | undefined;
      const outcome = async (mayWait: boolean) =>
        serially(id, async () => {
          const attachment = await ownAttachment(stationId, id);
          if (attachment.state !== 'receiving') {
            if (attachment.state === 'complete') return stateOf(attachment, { index, duplicate: true });
            throw new LifelineError('CALLHOME_ATTACHMENT_GONE', `attachment ${id} was ${attachment.state}`);
          }
          const { start, end } = chunkRange(index, attachment.bytes, attachment.chunkBytes);
          if (start >= attachment.bytes) {
            throw new LifelineError(
              'CALLHOME_ATTACHMENT_INVALID',
              `chunk ${index} is past the end of the file (${attachment.bytes} bytes in chunks of ${attachment.chunkBytes})`,
            );
          }
          if (body.byteLength !== end - start) {
            throw new LifelineError(
              'CALLHOME_ATTACHMENT_INVALID',
              `chunk ${index} must hold ${end - start} bytes, it holds ${body.byteLength}`,
            );
          }
          if (end <= attachment.receivedBytes) {
            await store.attachments.countRepeat(id, body.byteLength, clock.now());
            return stateOf(attachment, { index, duplicate: true });
          }
          if (
            mayWait &&
            start > attachment.receivedBytes &&
            start - attachment.receivedBytes <= chunksAhead * attachment.chunkBytes
          ) {
            // Registered under the lock: the chunk before cannot advance unseen.
            turn = nextProgress(id, Math.max(1, deadlineMs - Date.now()));
            return waitForTurn;
          }
          if (start !== attachment.receivedBytes) {
            const error = new LifelineError(
              'CALLHOME_ATTACHMENT_OUT_OF_ORDER',
              `chunk ${index} starts at byte ${start}, but the hub has received ${attachment.receivedBytes} bytes: send chunk ${Math.floor(attachment.receivedBytes / attachment.chunkBytes)} next`,
            );
            return reply.code(error.httpStatus).send(refusal(error, attachment.receivedBytes));
          }
          const path = pathOf(attachment);
          await writeChunkAt(path, dirname(path), start, body);
          const { attachment: after, advanced } = await store.attachments.advance(
            id,
            start,
            end,
            clock.now(),
          );
          if (advanced) followHash(id, start, end, body);
          if (!advanced) await store.attachments.countRepeat(id, body.byteLength, clock.now());
          notifyProgress(id);
          return stateOf(after, { index, duplicate: !advanced });
        });
      // A chunk that came early waits for each one before it to be written, until its deadline.
      const deadlineMs = Date.now() + chunkWaitMs;
      for (;;) {
        const result = await outcome(Date.now() < deadlineMs);
        if (result !== waitForTurn) return result;
        await turn;
      }
    },
  );

  api.post('/v1/attachments/:id/complete', { schema: { params: idParams } }, async (request, reply) => {
    const { stationId } = await callingStation(request.raw, store);
    const { id } = request.params;
    return serially(id, async () => {
      const attachment = await ownAttachment(stationId, id);
      // Deleted or purged after it completed: the agent only needs to know it arrived.
      if (attachment.state !== 'receiving') return stateOf(attachment);
      if (attachment.receivedBytes < attachment.bytes) {
        const error = new LifelineError(
          'CALLHOME_ATTACHMENT_INCOMPLETE',
          `attachment ${id}: ${attachment.receivedBytes} of ${attachment.bytes} bytes received`,
        );
        return reply.code(error.httpStatus).send(refusal(error, attachment.receivedBytes));
      }
      const path = pathOf(attachment);
      await settleFileLength(path, dirname(path), attachment.bytes);
      const running = runningHashes.get(id);
      runningHashes.delete(id);
      const sha256 =
        running && running.upTo === attachment.bytes
          ? running.hash.digest('hex')
          : await hashFile(path, attachment.bytes);
      if (sha256 !== attachment.sha256) {
        await store.attachments.restart(id, clock.now());
        await audit.record(`station:${stationId}`, 'attachment.checksum-mismatch', stationId, {
          attachmentId: id,
          problemNumber: attachment.problemNumber,
          declared: attachment.sha256,
          received: sha256,
        });
        {
          const error = new LifelineError(
            'CALLHOME_ATTACHMENT_CHECKSUM',
            `the SHA-256 of the ${attachment.bytes} bytes received differs from the one declared: the upload starts over`,
          );
          return reply.code(error.httpStatus).send(refusal(error, 0));
        }
      }
      const done = (await store.attachments.markComplete(id, clock.now())) ?? attachment;
      await audit.record(`station:${stationId}`, 'attachment.received', stationId, {
        attachmentId: id,
        problemNumber: attachment.problemNumber,
        name: attachment.name,
        bytes: attachment.bytes,
        sha256,
      });
      return stateOf(done);
    });
  });
}
