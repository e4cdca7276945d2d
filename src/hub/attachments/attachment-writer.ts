// Writes the chunks of uploads to their blobs in order and makes them durable in groups. A chunk
// is handed to the blob store as soon as the chunks before it were, which writes it (as one part)
// and gives its SHA-256 to check against its manifest; one flush covers every chunk written and
// checked since the last one, and only after it does the store's resume point move and the chunks'
// senders get their answers. So the hub never counts bytes its storage does not hold or that differ
// from what the station declared, and the storage is not synced once per chunk. What is kept here
// of an upload only speeds it up: the database's resume point is where any node continues.

import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { HubAttachment } from '../store/index.js';
import type { HubStore } from '../store/index.js';
import { blobKeyOf } from './attachment-files.js';
import type { BlobKey, BlobShape, BlobStore, BlobUpload } from './blob-store.js';
import type { ChunkBody } from './chunk-body.js';

/** What a chunk's sender is told once its bytes are durable (or were already). */
export interface ChunkOutcome {
  attachment: HubAttachment;
  /** The chunk's bytes were on disk already (a resend). */
  duplicate: boolean;
}

/** A chunk the hub cannot take now: the sender is told where the hub stands. */
export class ChunkOutOfTurn extends LifelineError {
  readonly receivedBytes: number;
  constructor(message: string, receivedBytes: number) {
    super('CALLHOME_ATTACHMENT_OUT_OF_ORDER', message);
    this.receivedBytes = receivedBytes;
  }
}

export interface AttachmentWriterOptions {
  store: HubStore;
  clock: Clock;
  blobs: BlobStore;
  /** How long a chunk that arrived ahead of its turn waits for the ones before it. */
  chunkWaitMs: number;
  /** How many chunks past the next expected one may arrive and wait (held in memory). */
  chunksAhead: number;
}

interface Waiting {
  start: number;
  end: number;
  body: ChunkBody;
  sha256: string;
  timer: NodeJS.Timeout;
  resolve: (outcome: ChunkOutcome) => void;
  reject: (err: unknown) => void;
}

interface Unsynced {
  end: number;
  resolve: (outcome: ChunkOutcome) => void;
  reject: (err: unknown) => void;
}

/** A chunk written and not yet synced: its check against the manifest runs meanwhile. */
interface Written extends Unsynced {
  start: number;
  /** Whether the bytes written match the manifest's SHA-256 (rejects when they could not be written). */
  matches: Promise<boolean>;
}

/** One upload in progress: what is durable, what is written, what waits. */
interface Upload {
  id: string;
  key: BlobKey;
  shape: BlobShape;
  chunkBytes: number;
  /** Synced and recorded in the store: the resume point. */
  receivedBytes: number;
  /** Written in order (maybe not yet synced). */
  writtenBytes: number;
  /** Taken by the writer (being written, or written): a chunk starting before it is a resend. */
  takenBytes: number;
  /** Chunks that arrived and wait to be written, by their first byte. */
  waiting: Map<number, Waiting>;
  /** Chunks written, in order, waiting for their check and the sync that covers them. */
  unsynced: Written[];
  /** Moves when written chunks are refused: a write that started before then no longer counts. */
  epoch: number;
  /** Resends of bytes being written or synced: answered when those are durable. */
  repeats: Unsynced[];
  /** Opened with the first chunk written here. */
  blob: BlobUpload | undefined;
  writing: boolean;
  syncing: boolean;
  /** Set when a write or sync failed: the upload is dropped and reloaded from the store. */
  failed: boolean;
  lastActiveMs: number;
}

/** An upload nobody sent a chunk of for this long is dropped (its state is in the store). */
const idleDropMs = 10 * 60_000;

export class AttachmentWriters {
  readonly #options: AttachmentWriterOptions;
  readonly #uploads = new Map<string, Upload>();
  readonly #loading = new Map<string, Promise<Upload>>();
  readonly #sweep: NodeJS.Timeout;

  constructor(options: AttachmentWriterOptions) {
    this.#options = options;
    // Abandoned uploads (the station went away) keep nothing here for long.
    this.#sweep = setInterval(() => {
      const cutoff = Date.now() - idleDropMs;
      for (const upload of this.#uploads.values()) {
        if (this.#idle(upload) && upload.lastActiveMs < cutoff) this.#drop(upload);
      }
    }, 60_000);
    this.#sweep.unref();
  }

  /**
   * Takes a chunk whose length matches its place in the file (`attachment` as just read from the
   * store, still receiving). Resolves once its bytes are written, checked, synced and recorded, or
   * found there already; rejects with ChunkOutOfTurn when it is too far ahead or waited too long,
   * and with CALLHOME_ATTACHMENT_INVALID when its bytes differ from `sha256`.
   */
  async write(
    attachment: HubAttachment,
    start: number,
    end: number,
    body: ChunkBody,
    /** The chunk's SHA-256 as its manifest declares it: checked once written, before it counts. */
    sha256: string,
  ): Promise<ChunkOutcome> {
    const upload = await this.#uploadOf(attachment.id, attachment.receivedBytes);
    if (upload.failed) throw new LifelineError('INTERNAL', `the upload of ${attachment.id} was interrupted`);
    upload.lastActiveMs = Date.now();
    if (end <= upload.receivedBytes) {
      await this.#options.store.attachments.countRepeat(
        attachment.id,
        body.byteLength,
        this.#options.clock.now(),
      );
      return { attachment: { ...attachment, receivedBytes: upload.receivedBytes }, duplicate: true };
    }
    if (start < upload.takenBytes || upload.waiting.has(start)) {
      // Sent again while its first copy is being written or synced: answered once that is durable.
      const outcome = await new Promise<ChunkOutcome>((resolve, reject) =>
        upload.repeats.push({ end, resolve, reject }),
      );
      await this.#options.store.attachments.countRepeat(
        attachment.id,
        body.byteLength,
        this.#options.clock.now(),
      );
      return outcome;
    }
    const ahead = start - upload.takenBytes;
    if (
      ahead > this.#options.chunksAhead * upload.chunkBytes ||
      (ahead > 0 && start % upload.chunkBytes !== 0)
    ) {
      return Promise.reject(this.#outOfTurn(upload, start));
    }
    return new Promise<ChunkOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (upload.waiting.get(start)?.timer !== timer) return;
        upload.waiting.delete(start);
        reject(this.#outOfTurn(upload, start));
      }, this.#options.chunkWaitMs);
      upload.waiting.set(start, { start, end, body, sha256, timer, resolve, reject });
      void this.#writeInOrder(upload);
    });
  }

  /**
   * The SHA-256 of the whole file when every byte of it was written and checked here in order
   * since the hub started, so completing need not read the file back; null otherwise.
   */
  async digestOf(id: string, bytes: number): Promise<string | null> {
    const upload = this.#uploads.get(id);
    if (!upload?.blob || upload.receivedBytes !== bytes) return null;
    return upload.blob.digest(bytes);
  }

  /** An upload is starting: the blob store readies its writing before the first chunk arrives. */
  prepare(): void {
    this.#options.blobs.prepare();
  }

  /** The upload completed, started over or went away: its state here is dropped. */
  forget(id: string): void {
    const upload = this.#uploads.get(id);
    if (!upload) return;
    this.#fail(
      upload,
      new LifelineError('CALLHOME_ATTACHMENT_GONE', `attachment ${id} changed while chunks were in flight`),
    );
  }

  /** Drops every upload (the hub stops); chunks not yet durable are answered with an error. */
  close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const upload of [...this.#uploads.values()]) {
      this.#fail(upload, new LifelineError('INTERNAL', 'the hub is stopping'));
    }
    return Promise.resolve();
  }

  /**
   * The upload's state here, read from the store when it has none (one read at a time), or when
   * it no longer agrees with the store's resume point (`storedBytes`, as the caller read it) while
   * nothing is in flight here: another node moved the upload on, or started it over, meanwhile.
   */
  #uploadOf(id: string, storedBytes: number): Promise<Upload> {
    const known = this.#uploads.get(id);
    if (known && !known.failed && this.#idle(known) && storedBytes !== known.receivedBytes) {
      if (storedBytes < known.receivedBytes) return this.#confirm(known);
      this.#drop(known);
    } else if (known) return Promise.resolve(known);
    let loading = this.#loading.get(id);
    if (!loading) {
      loading = this.#load(id).finally(() => this.#loading.delete(id));
      this.#loading.set(id, loading);
    }
    return loading;
  }

  /**
   * The caller read a resume point behind this node's: read before this node's last advance (chunks
   * in flight), or another node started the upload over (its whole file differed). The store says.
   */
  async #confirm(known: Upload): Promise<Upload> {
    const stored = await this.#options.store.attachments.get(known.id);
    if (stored?.state === 'receiving' && stored.receivedBytes === known.receivedBytes) return known;
    if (this.#uploads.get(known.id) === known && !known.failed && this.#idle(known)) this.#drop(known);
    return this.#uploadOf(known.id, stored?.receivedBytes ?? 0);
  }

  async #load(id: string): Promise<Upload> {
    const attachment = await this.#options.store.attachments.get(id);
    if (!attachment) throw new LifelineError('CALLHOME_ATTACHMENT_NOT_FOUND', `no attachment ${id}`);
    if (attachment.state !== 'receiving') {
      throw new LifelineError('CALLHOME_ATTACHMENT_GONE', `attachment ${id} was ${attachment.state}`);
    }
    const upload: Upload = {
      id: attachment.id,
      key: blobKeyOf(attachment),
      shape: { bytes: attachment.bytes, partBytes: attachment.chunkBytes },
      chunkBytes: attachment.chunkBytes,
      receivedBytes: attachment.receivedBytes,
      writtenBytes: attachment.receivedBytes,
      takenBytes: attachment.receivedBytes,
      waiting: new Map(),
      unsynced: [],
      epoch: 0,
      repeats: [],
      blob: undefined,
      writing: false,
      syncing: false,
      failed: false,
      lastActiveMs: Date.now(),
    };
    this.#uploads.set(attachment.id, upload);
    return upload;
  }

  #idle(upload: Upload): boolean {
    return (
      !upload.writing &&
      !upload.syncing &&
      upload.waiting.size === 0 &&
      upload.unsynced.length === 0 &&
      upload.repeats.length === 0
    );
  }

  #outOfTurn(upload: Upload, start: number): ChunkOutOfTurn {
    const index = Math.floor(start / upload.chunkBytes);
    return new ChunkOutOfTurn(
      `chunk ${index} starts at byte ${start}, but the hub has received ${upload.receivedBytes} bytes: send chunk ${Math.floor(upload.receivedBytes / upload.chunkBytes)} next`,
      upload.receivedBytes,
    );
  }

  /**
   * Hands every chunk whose turn has come to the blob store, in order; one runs per upload at a
   * time. Each is written and checked against its manifest while the next one travels.
   */
  async #writeInOrder(upload: Upload): Promise<void> {
    if (upload.writing || upload.failed) return;
    upload.writing = true;
    let current: Waiting | undefined;
    try {
      for (
        let next = upload.waiting.get(upload.writtenBytes);
        next && !upload.failed;
        next = upload.waiting.get(upload.writtenBytes)
      ) {
        current = next;
        upload.waiting.delete(next.start);
        clearTimeout(next.timer);
        upload.takenBytes = next.end;
        if (!upload.blob) {
          upload.blob = await this.#options.blobs.openUpload(upload.key, upload.shape);
          if (upload.failed) {
            void upload.blob.close();
            next.reject(new LifelineError('INTERNAL', 'the upload was interrupted'));
            current = undefined;
            return;
          }
        }
        // Bytes that differ from their manifest are never flushed or counted, and a resend
        // overwrites them. The blob store writes parts in the order handed over.
        const sha256 = next.sha256;
        const part = { index: Math.floor(next.start / upload.chunkBytes), start: next.start, end: next.end };
        const matches = upload.blob.writePart(part, next.body).then((written) => written === sha256);
        matches.catch(() => undefined);
        upload.writtenBytes = next.end;
        upload.unsynced.push({
          start: next.start,
          end: next.end,
          resolve: next.resolve,
          reject: next.reject,
          matches,
        });
        current = undefined;
        void this.#syncWritten(upload);
      }
    } catch (err) {
      current?.reject(err);
      this.#fail(upload, err);
    } finally {
      upload.writing = false;
    }
  }

  /**
   * A written chunk differed from its manifest: it is refused, the chunks written or waiting
   * behind it are told where to resume, and the upload goes on from its start (what is synced stays).
   */
  #refuseFrom(upload: Upload, refused: Written): void {
    upload.epoch += 1;
    upload.takenBytes = refused.start;
    upload.writtenBytes = refused.start;
    // The whole-file hash followed the refused bytes; the blob upload stops following it when the
    // part is written again (digest() answers null), so completing reads the blob back instead.
    refused.reject(
      new LifelineError(
        'CALLHOME_ATTACHMENT_INVALID',
        `chunk ${Math.floor(refused.start / upload.chunkBytes)} refused: the SHA-256 of the bytes received differs from the manifest`,
      ),
    );
    const behind = upload.unsynced.filter((chunk) => chunk.start > refused.start);
    upload.unsynced = upload.unsynced.filter((chunk) => chunk.end <= refused.start);
    for (const chunk of behind) chunk.reject(this.#outOfTurn(upload, chunk.start));
    // Resends of refused bytes wait for nothing now: they are told where to resume too.
    const repeatsBehind = upload.repeats.filter((chunk) => chunk.end > refused.start);
    upload.repeats = upload.repeats.filter((chunk) => chunk.end <= refused.start);
    for (const chunk of repeatsBehind) chunk.reject(this.#outOfTurn(upload, refused.start));
    for (const chunk of upload.waiting.values()) {
      clearTimeout(chunk.timer);
      chunk.reject(this.#outOfTurn(upload, chunk.start));
    }
    upload.waiting.clear();
  }

  /**
   * Syncs the chunks written and found matching, in order, and moves the resume point past them;
   * repeats while more were written. One runs per upload at a time.
   */
  async #syncWritten(upload: Upload): Promise<void> {
    if (upload.syncing || upload.failed) return;
    upload.syncing = true;
    try {
      while (upload.unsynced.length > 0 && upload.blob && !upload.failed) {
        const batch = upload.unsynced.slice();
        const checks = await Promise.all(batch.map((chunk) => chunk.matches));
        if (upload.failed) return;
        const firstBad = checks.indexOf(false);
        const good = firstBad === -1 ? batch : batch.slice(0, firstBad);
        const bad = firstBad === -1 ? undefined : batch[firstBad];
        if (bad && upload.unsynced.includes(bad)) this.#refuseFrom(upload, bad);
        const last = good.at(-1);
        if (!last) continue;
        const from = upload.receivedBytes;
        const to = last.end;
        await upload.blob.flush();
        if (upload.failed) return;
        const { attachment, advanced } = await this.#options.store.attachments.advance(
          upload.id,
          from,
          to,
          this.#options.clock.now(),
        );
        if (!advanced) {
          // Another hub process, a delete or a restart moved it: nothing here is trusted any more.
          this.#fail(
            upload,
            attachment.state === 'receiving'
              ? new ChunkOutOfTurn(
                  `attachment ${upload.id} moved elsewhere meanwhile`,
                  attachment.receivedBytes,
                )
              : new LifelineError(
                  'CALLHOME_ATTACHMENT_GONE',
                  `attachment ${upload.id} was ${attachment.state}`,
                ),
          );
          return;
        }
        upload.receivedBytes = to;
        const answer = <T extends Unsynced>(list: T[], duplicate: boolean): T[] =>
          list.filter((chunk) => {
            if (chunk.end > to) return true;
            chunk.resolve({ attachment, duplicate });
            return false;
          });
        upload.unsynced = answer(upload.unsynced, false);
        upload.repeats = answer(upload.repeats, true);
      }
    } catch (err) {
      this.#fail(upload, err);
    } finally {
      upload.syncing = false;
    }
  }

  /** Answers everything not yet durable with `err` and drops the upload (the store is the truth). */
  #fail(upload: Upload, err: unknown): void {
    upload.failed = true;
    for (const chunk of upload.waiting.values()) {
      clearTimeout(chunk.timer);
      chunk.reject(err);
    }
    for (const chunk of [...upload.unsynced, ...upload.repeats]) chunk.reject(err);
    upload.waiting.clear();
    upload.unsynced = [];
    upload.repeats = [];
    this.#drop(upload);
  }

  #drop(upload: Upload): void {
    upload.failed = true;
    if (this.#uploads.get(upload.id) === upload) this.#uploads.delete(upload.id);
    // Writes already handed over finish; the handle takes no more.
    void upload.blob?.close();
  }
}
