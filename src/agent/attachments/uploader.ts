// Uploads staged attachments to the hub, one at a time, once their problem's reports are delivered.
// The hub's count of bytes received is the resume point: asked at every (re)start, so after a crash
// or a lost answer the upload goes on from the last chunk the hub synced, never from zero. Chunks
// are large, read ahead while the previous one is on the wire (their SHA-256 known from staging),
// and go over the upload channel, or over call home when there is none; start and complete go over
// call home. Failures back off with full jitter; maintenance mode holds uploads.

import { Wakeup } from '../../common/wakeup.js';
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Backoff } from '../../common/backoff.js';
import type { Clock } from '../../common/clock.js';
import { answerError, parseAnswerBody, type AnswerBody } from '../../common/api-answer.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import {
  buildManifest,
  chunkContains,
  chunkCount,
  chunkRange,
  defaultChunkBytes,
  encodeManifest,
  manifestHeader,
  maxAttachmentBytes,
  type AttachmentStepKind,
  type Manifest,
} from '../../protocol/index.js';
import type { AttachmentRecord, AttachmentStore } from '../store/index.js';
import type { OutboxStore } from '../store/index.js';
import type { HubAnswer } from '../link/index.js';
import { stageAttachment, stagedFilePath, sweepStagingDir } from './attachment-staging.js';
import { UploadChannelUnavailable, type ChunkFrame, type ChunkSendOptions } from './upload-channel.js';
import type { StoreRoom } from '../../common/disk/index.js';

/** Sends exact bytes to the hub; resolves with any HTTP answer, rejects when none came. */
export type SendBytes = (
  method: string,
  path: string,
  body: Uint8Array | undefined,
  headers: Record<string, string>,
  options: { signal?: AbortSignal; idleTimeoutMs?: number; onBodySent?: () => void },
) => Promise<HubAnswer>;

/** Sends one chunk over the upload channel (upload-channel.ts); same answers as the chunk's PUT. */
export type SendChunkFrame = (
  chunk: ChunkFrame,
  body: Uint8Array,
  options: ChunkSendOptions,
) => Promise<HubAnswer>;

export interface UploaderOptions {
  store: AttachmentStore;
  /** The transmission log every answered step is written to. */
  transmissions: Pick<OutboxStore, 'recordUploadStep'>;
  send: SendBytes;
  /**
   * Chunks go here when given: a connection of their own, without HTTP/2's framing. When it cannot
   * be opened, an attempt's chunks go over `send` instead.
   */
  sendChunkFrame?: SendChunkFrame;
  /** Opens the upload channel ahead of the first chunk (see UploadChannel.prepare). */
  prepareChunkChannel?: (signal: AbortSignal) => void;
  /** Where staged files are kept (DATADIR/attachments). */
  dir: string;
  clock: Clock;
  logger: Logger;
  audit: (action: string, detail: Record<string, unknown>, actor?: string) => Promise<unknown>;
  /** Refuses a file the disk has no room for, and turns a write that ran out of room into STORE_FULL. */
  room?: StoreRoom;
  chunkBytes?: number;
  maxBytes?: number;
  minRetryMs?: number;
  maxRetryMs?: number;
  random?: () => number;
}

/**
 * Chunks sent before the answer to the oldest one: the hub answers a chunk once it is written,
 * checked and synced, so transfer and the hub's disk work overlap.
 */
const chunksAwaitingAnswer = 8;
/** Chunks read from the staged file and not yet sent (each holds a chunk-sized buffer). */
const chunksReadAhead = 2;

/** How often the progress shown to the administrator is saved while chunks are answered. */
const progressSaveIntervalMs = 500;

/** Worth trying again later (network, hub busy or not ready): the upload stays staged. */
class RetryLater extends Error {}
/** Sending again cannot help: the upload is marked failed and shown. */
class GiveUp extends Error {}

interface Answer {
  status: number;
  /** The answer's JSON object; {} when it was not one. */
  body: AnswerBody;
  text: string;
}

interface ReadChunk {
  index: number;
  start: number;
  bytes: Buffer;
  sha256: string;
}

export class Uploader {
  readonly #options: UploaderOptions;
  readonly #store: AttachmentStore;
  readonly #chunkBytes: number;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping = false;
  readonly #wakeup = new Wakeup();
  #holdOffUntilMs = 0;
  #pausedUntilMs: number | null = null;
  /** The upload channel could not be opened in this attempt: its chunks go over call home. */
  #channelUnavailable = false;

  constructor(options: UploaderOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#chunkBytes = options.chunkBytes ?? defaultChunkBytes;
    this.#backoff = new Backoff({
      minMs: options.minRetryMs ?? 1000,
      maxMs: options.maxRetryMs ?? 300_000,
      ...(options.random ? { random: options.random } : {}),
    });
  }

  /** Streams a file to the staging directory and records it; resolves once it is durable. */
  async stage(
    problemLocalId: string,
    name: string,
    body: Readable,
    options: { expectedBytes?: number | undefined; actor: string },
  ): Promise<AttachmentRecord> {
    const room = this.#options.room;
    try {
      await room?.ensureRoom(options.expectedBytes ?? 0);
    } catch (err) {
      // Refused before a byte is read: the rest of the request is let through unread.
      body.resume();
      throw err;
    }
    const record = await stageAttachment({
      store: this.#store,
      dir: this.#options.dir,
      clock: this.#options.clock,
      problemLocalId,
      name,
      body,
      expectedBytes: options.expectedBytes,
      maxBytes: this.#options.maxBytes ?? maxAttachmentBytes,
      chunkBytes: this.#chunkBytes,
    }).catch(async (err: unknown) => {
      throw room ? await room.failed(err, this.#options.dir) : err;
    });
    await this.#options.audit(
      'callhome.attachment-staged',
      {
        attachmentId: record.id,
        problem: problemLocalId,
        name: record.name,
        bytes: record.bytes,
        sha256: record.sha256,
      },
      options.actor,
    );
    this.wake();
    return record;
  }

  get store(): AttachmentStore {
    return this.#store;
  }

  /** Starts uploading what is staged (left by a crash too). Idempotent. */
  start(): void {
    if (this.#loop || this.#stopping) return;
    this.#loop = this.#run();
  }

  /** Something changed (a file staged, a report delivered): look again now. */
  wake(): void {
    this.#wakeup.wake();
  }

  /** Maintenance mode: the chunk in flight finishes; nothing more is sent until untilMs or resume(). */
  pause(untilMs: number): void {
    this.#pausedUntilMs = untilMs;
    this.wake();
  }

  resume(): void {
    this.#pausedUntilMs = null;
    this.wake();
  }

  /**
   * Stops: the chunk in flight is abandoned rather than awaited (on a slow line it could take
   * long), which loses nothing: the next start asks the hub where to resume. Idempotent.
   */
  async close(): Promise<void> {
    this.destroy();
    await this.#loop;
  }

  /** Stops at once; the chunk in flight is sent again (or found received) after the next start. */
  destroy(): void {
    this.#stopping = true;
    this.#abort.abort(new LifelineError('INTERNAL', 'the uploader was destroyed'));
    this.wake();
  }

  #paused(): boolean {
    return this.#pausedUntilMs !== null && this.#pausedUntilMs > this.#options.clock.now();
  }

  async #run(): Promise<void> {
    await sweepStagingDir(this.#store, this.#options.dir).catch((err: unknown) =>
      this.#options.logger.warn({ err }, 'attachments: could not sweep the staging directory'),
    );
    while (!this.#stopping) {
      this.#wakeup.clear();
      let waitMs: number | undefined;
      try {
        waitMs = await this.#step();
      } catch (err) {
        if (this.#stopping) return;
        // The store failed (disk full, I/O error): keep going, later. A full disk is logged once,
        // as a condition (StoreSpace), not at every retry.
        const full = err instanceof LifelineError && err.code === 'STORE_FULL';
        this.#options.logger[full ? 'debug' : 'error']({ err }, 'attachments: store failure');
        waitMs = this.#backoff.nextDelayMs(this.#options.clock.now());
      }
      if (waitMs !== 0 && !this.#stopping) await this.#wakeup.sleep(waitMs);
    }
  }

  /** Uploads one attachment and returns 0, or returns how long to wait (undefined: until woken). */
  async #step(): Promise<number | undefined> {
    const nowMs = this.#options.clock.now();
    if (this.#paused()) return (this.#pausedUntilMs ?? nowMs) - nowMs;
    if (this.#holdOffUntilMs > nowMs) return this.#holdOffUntilMs - nowMs;
    const candidates = await this.#store.listToUpload();
    if (candidates.length === 0) return undefined;
    for (const attachment of candidates) {
      const delivery = await this.#store.problemDelivery(attachment.problemLocalId);
      // Order per problem: the hub must hold the problem (and its updates) before its data.
      if (delivery === 'waiting') continue;
      if (delivery === 'rejected') {
        await this.#store.markFailed(
          attachment.id,
          'the hub refused the report that opens its problem',
          nowMs,
        );
        continue;
      }
      await this.#attempt(attachment);
      return 0;
    }
    // Every upload waits for its problem's reports; the outbox wakes us when one is delivered.
    return 30_000;
  }

  async #attempt(attachment: AttachmentRecord): Promise<void> {
    const log = this.#options.logger.child({
      attachmentId: attachment.id,
      problem: attachment.problemLocalId,
    });
    try {
      await this.#upload(attachment);
      this.#backoff.reset();
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      const nowMs = this.#options.clock.now();
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof GiveUp) {
        await this.#store.markFailed(attachment.id, message, nowMs);
        log.warn({ error: message }, 'attachment upload failed for good');
        return;
      }
      if (!(err instanceof RetryLater)) throw err;
      await this.#store.setError(attachment.id, message, nowMs);
      this.#holdOffUntilMs = nowMs + this.#backoff.nextDelayMs(nowMs);
      log.info(
        { error: message, retryAtMs: this.#holdOffUntilMs },
        'attachment upload interrupted; will resume',
      );
    }
  }

  async #upload(attachment: AttachmentRecord): Promise<void> {
    const { id, bytes } = attachment;
    this.#channelUnavailable = false;
    // The channel's handshake overlaps the start's round trip; most starts are followed by chunks.
    if (attachment.ackedBytes < bytes) this.#options.prepareChunkChannel?.(this.#abort.signal);
    const started = await this.#exchange(attachment, 'attachment.start', 'POST', '/v1/attachments', {
      body: Buffer.from(
        JSON.stringify({
          id,
          problemLocalId: attachment.problemLocalId,
          name: attachment.name,
          bytes,
          sha256: attachment.sha256,
          chunkBytes: attachment.chunkBytes,
        }),
      ),
      contentType: 'application/json',
      contains: `start of ${attachment.name} (${bytes} bytes) for ${attachment.problemLocalId}`,
    });
    if (started.status !== 200 && started.status !== 201) this.#refused(started, 'start');
    // The hub's figure wins: it counts only what it synced to disk.
    let offset = this.#resumePoint(attachment, started.body);
    if (started.body.complete !== true) {
      await this.#store.setProgress(id, offset, this.#options.clock.now());
      if (offset < bytes) {
        const done = await this.#sendChunks(attachment, offset);
        if (!done) return;
        offset = bytes;
      }
      const completed = await this.#exchange(
        attachment,
        'attachment.complete',
        'POST',
        `/v1/attachments/${id}/complete`,
        {
          contains: `end of ${attachment.name}: verify ${bytes} bytes`,
          parts: [{ name: attachment.name, bytes, sha256: attachment.sha256 }],
          // The hub reads the whole file back to hash it.
          idleTimeoutMs: 60_000 + Math.ceil(bytes / (50 * 1024 * 1024)) * 1000,
        },
      );
      if (completed.status === 422) await this.#checkStagedFile(attachment);
      if (completed.status !== 200) this.#refused(completed, 'complete');
    }
    await this.#finish(attachment);
  }

  /** Sends chunks from `from` to the end; false when stopped or paused before the end. */
  async #sendChunks(attachment: AttachmentRecord, from: number): Promise<boolean> {
    const { id, bytes, chunkBytes } = attachment;
    const count = chunkCount(bytes, chunkBytes);
    const file = await this.#openStaged(attachment);
    // Hashed at staging: sending (and resending after any interruption) reads and sends only.
    const staged = await this.#store.chunkSha256s(id);
    const knownSha256s = staged?.length === count ? staged : undefined;
    // Chunks on the wire, oldest first: while the hub writes, checks and syncs some, the next ones
    // travel. Their bodies go one after the other, not interleaved, so each arrives whole as early
    // as it can. A chunk's buffer is free once its body went out (a resend reads the file again),
    // so only a couple are held however many chunks wait for their answer.
    const inFlight: { index: number; end: number; answer: Promise<Answer> }[] = [];
    const drain = () => Promise.allSettled(inFlight.splice(0).map((c) => c.answer));
    const spare: Buffer[] = [];
    let unsent = 0;
    let bodyWentOut = (): void => undefined;
    let nextIndex = from / chunkBytes;
    let resyncs = 0;
    let progressSavedAtMs = 0;
    let previousSent = Promise.resolve();
    try {
      for (;;) {
        while (
          inFlight.length < chunksAwaitingAnswer &&
          unsent < chunksReadAhead &&
          nextIndex < count &&
          !this.#stopping &&
          !this.#paused()
        ) {
          const chunk = await readChunk(file, attachment, nextIndex, spare.pop(), knownSha256s?.[nextIndex]);
          unsent += 1;
          let out = false;
          let bodySent!: () => void;
          const sent = new Promise<void>((resolve) => (bodySent = resolve));
          const wentOut = (reusable: boolean): void => {
            if (out) return;
            out = true;
            unsent -= 1;
            if (reusable) spare.push(chunk.bytes);
            bodySent();
            bodyWentOut();
          };
          const answer = previousSent.then(() => this.#sendChunk(attachment, chunk, () => wentOut(true)));
          answer.catch(() => undefined).finally(() => wentOut(false));
          previousSent = sent;
          inFlight.push({ index: chunk.index, end: chunk.start + chunk.bytes.byteLength, answer });
          nextIndex += 1;
        }
        const head = inFlight[0];
        if (!head) return nextIndex >= count;
        // Whichever comes first: the oldest chunk's answer, or a body out (room to read the next).
        const answered = await Promise.race([
          head.answer.then(
            () => true,
            () => true,
          ),
          new Promise<boolean>((resolve) => (bodyWentOut = () => resolve(false))),
        ]);
        if (!answered) continue;
        inFlight.shift();
        const answer = await head.answer;
        if (answer.status === 409 && answer.body.code === 'CALLHOME_ATTACHMENT_OUT_OF_ORDER' && resyncs < 3) {
          resyncs += 1;
          await drain();
          nextIndex = Math.ceil(this.#resumePoint(attachment, answer.body) / chunkBytes);
          continue;
        }
        if (answer.status !== 200) {
          // A chunk unlike its manifest: when the staged copy changed on disk, resending cannot help.
          if (answer.status === 400 && answer.body.code === 'CALLHOME_ATTACHMENT_INVALID')
            await this.#checkStagedFile(attachment);
          this.#refused(answer, `chunk ${head.index}`);
        }
        if (answer.body.complete === true) return true;
        resyncs = 0;
        const received = this.#resumePoint(attachment, answer.body);
        // Shown to the administrator; the resume point itself is the hub's, so a few writes a
        // second are enough.
        const nowMs = this.#options.clock.now();
        if (nowMs - progressSavedAtMs >= progressSaveIntervalMs || received === bytes) {
          progressSavedAtMs = nowMs;
          await this.#store.setProgress(id, received, nowMs);
        }
        // The hub syncs chunks in groups, so its resume point may already be past this chunk.
        if (received < head.end || received > inFlightEnd(inFlight, head.end)) {
          // The hub is elsewhere than expected: its figure wins.
          await drain();
          nextIndex = Math.ceil(received / chunkBytes);
        }
      }
    } finally {
      await drain();
      await file.close();
    }
  }

  #sendChunk(attachment: AttachmentRecord, chunk: ReadChunk, onBodySent: () => void): Promise<Answer> {
    const end = chunk.start + chunk.bytes.byteLength;
    return this.#exchange(
      attachment,
      'attachment.chunk',
      'PUT',
      `/v1/attachments/${attachment.id}/chunks/${chunk.index}`,
      {
        body: chunk.bytes,
        contentType: 'application/octet-stream',
        contains: chunkContains(chunk.index, attachment),
        sha256: chunk.sha256,
        onBodySent,
        chunkIndex: chunk.index,
        parts: [
          {
            name: `${attachment.name} bytes ${chunk.start}-${end - 1}`,
            bytes: chunk.bytes.byteLength,
            sha256: chunk.sha256,
          },
        ],
      },
    );
  }

  async #openStaged(attachment: AttachmentRecord): Promise<FileHandle> {
    try {
      return await open(stagedFilePath(this.#options.dir, attachment.id), 'r');
    } catch (err) {
      throw new GiveUp(`the staged file is gone: ${(err as Error).message}`);
    }
  }

  /** The hub refused the whole file: if the staged copy changed on disk, resending cannot help. */
  async #checkStagedFile(attachment: AttachmentRecord): Promise<void> {
    const file = await this.#openStaged(attachment);
    const hash = createHash('sha256');
    try {
      for await (const block of file.createReadStream({ highWaterMark: 4 * 1024 * 1024, autoClose: false })) {
        hash.update(block as Buffer);
      }
    } finally {
      await file.close();
    }
    if (hash.digest('hex') !== attachment.sha256) {
      throw new GiveUp('the staged file no longer matches the SHA-256 it had when it was staged');
    }
  }

  async #finish(attachment: AttachmentRecord): Promise<void> {
    await this.#store.markUploaded(attachment.id, this.#options.clock.now());
    await this.#options.audit('callhome.attachment-sent', {
      attachmentId: attachment.id,
      problem: attachment.problemLocalId,
      name: attachment.name,
      bytes: attachment.bytes,
      sha256: attachment.sha256,
    });
    // The hub holds a verified copy: the staged one is no longer needed (the row stays).
    await rm(stagedFilePath(this.#options.dir, attachment.id), { force: true });
  }

  #resumePoint(attachment: AttachmentRecord, body: Record<string, unknown>): number {
    const received = body.receivedBytes;
    if (
      typeof received !== 'number' ||
      !Number.isInteger(received) ||
      received < 0 ||
      received > attachment.bytes ||
      (received % attachment.chunkBytes !== 0 && received !== attachment.bytes)
    ) {
      throw new RetryLater(`the hub answered an unusable receivedBytes: ${JSON.stringify(received)}`);
    }
    return received;
  }

  /** Classifies a refusal: some are worth retrying, some are final. Never returns. */
  #refused(answer: Answer, step: string): never {
    const refusal = answerError(answer.status, answer.text, 'the hub');
    const message = `${step}: ${refusal.message} (${refusal.code})`;
    const final =
      answer.status === 400 ||
      answer.status === 410 ||
      answer.status === 413 ||
      (answer.status === 409 && refusal.code === 'CALLHOME_ATTACHMENT_CONFLICT');
    throw final ? new GiveUp(message, { cause: refusal }) : new RetryLater(message, { cause: refusal });
  }

  /** A chunk over the upload channel; undefined when there is none (it then goes over call home). */
  async #sendOverChannel(
    attachment: AttachmentRecord,
    step: { body?: Buffer; chunkIndex?: number; onBodySent?: () => void },
    manifest: string,
  ): Promise<HubAnswer | undefined> {
    const sendFrame = this.#options.sendChunkFrame;
    if (!sendFrame || step.chunkIndex === undefined || !step.body || this.#channelUnavailable)
      return undefined;
    try {
      return await sendFrame({ id: attachment.id, index: step.chunkIndex, manifest }, step.body, {
        signal: this.#abort.signal,
        ...(step.onBodySent ? { onBodySent: step.onBodySent } : {}),
      });
    } catch (err) {
      if (!(err instanceof UploadChannelUnavailable)) throw err;
      if (!this.#channelUnavailable) {
        this.#channelUnavailable = true;
        this.#options.logger.info(
          { error: err.message },
          'attachments: the upload channel is not available; chunks go over call home',
        );
      }
      return undefined;
    }
  }

  /** One step with its manifest, logged as a transmission once answered. */
  async #exchange(
    attachment: AttachmentRecord,
    kind: AttachmentStepKind,
    method: string,
    path: string,
    step: {
      body?: Buffer;
      contentType?: string;
      contains: string;
      parts?: Manifest['parts'];
      /** The body's SHA-256, when hashed already. */
      sha256?: string;
      idleTimeoutMs?: number;
      onBodySent?: () => void;
      /** A chunk: it may go over the upload channel. */
      chunkIndex?: number;
    },
  ): Promise<Answer> {
    const manifest = buildManifest(step.body ?? new Uint8Array(0), {
      kind,
      id: attachment.id,
      contains: step.contains,
      ...(step.parts ? { parts: step.parts } : {}),
      ...(step.sha256 ? { sha256: step.sha256 } : {}),
    });
    const manifestText = encodeManifest(manifest);
    const headers: Record<string, string> = { [manifestHeader]: manifestText };
    if (step.contentType) headers['content-type'] = step.contentType;
    let result: HubAnswer;
    try {
      result =
        (await this.#sendOverChannel(attachment, step, manifestText)) ??
        (await this.#options.send(method, path, step.body, headers, {
          signal: this.#abort.signal,
          ...(step.idleTimeoutMs ? { idleTimeoutMs: step.idleTimeoutMs } : {}),
          ...(step.onBodySent ? { onBodySent: step.onBodySent } : {}),
        }));
    } catch (err) {
      throw new RetryLater(`the hub did not answer: ${err instanceof Error ? err.message : String(err)}`);
    }
    await this.#options.transmissions.recordUploadStep({
      attachmentId: attachment.id,
      atMs: this.#options.clock.now(),
      kind,
      bytes: manifest.bytes,
      sha256: manifest.sha256,
      status: result.status,
      answer: result.answer,
      manifest,
    });
    return { status: result.status, body: parseAnswerBody(result.answer) ?? {}, text: result.answer };
  }
}

/** Where the bytes on the wire end: the hub cannot have synced past it. */
function inFlightEnd(inFlight: readonly { end: number }[], headEnd: number): number {
  return inFlight.reduce((end, chunk) => Math.max(end, chunk.end), headEnd);
}

/**
 * Reads one chunk of a staged file (into `reuse` when it is given and large enough), and hashes it
 * unless its SHA-256 is known from staging.
 */
async function readChunk(
  file: FileHandle,
  attachment: AttachmentRecord,
  index: number,
  reuse?: Buffer,
  knownSha256?: string,
): Promise<ReadChunk> {
  const { start, end } = chunkRange(index, attachment.bytes, attachment.chunkBytes);
  const bytes =
    reuse && reuse.byteLength >= end - start
      ? reuse.subarray(0, end - start)
      : Buffer.allocUnsafe(end - start);
  let read = 0;
  while (read < bytes.byteLength) {
    const { bytesRead } = await file.read(bytes, read, bytes.byteLength - read, start + read);
    if (bytesRead === 0) throw new GiveUp(`the staged file is shorter than ${attachment.bytes} bytes`);
    read += bytesRead;
  }
  return { index, start, bytes, sha256: knownSha256 ?? createHash('sha256').update(bytes).digest('hex') };
}
