// The hub's side of an error-data upload, whatever carries it (an HTTP/2 request on the call-home
// channel or a frame on the upload channel): start, where it stands, one chunk (written at its
// offset, checked against its manifest and synced before it counts), and completion once the whole
// file is verified. Each answer is a status and a body, the same on every transport.

import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import {
  chunkRange,
  decodeManifest,
  type AttachmentStart,
  type AttachmentState,
} from '../../protocol/index.js';
import type { HubAttachment } from '../store/index.js';
import type { HubStore } from '../store/index.js';
import { blobKeyOf, hashBlob } from './attachment-files.js';
import type { BlobStore } from './blob-store.js';
import { AttachmentWriters, ChunkOutOfTurn } from './attachment-writer.js';
import type { ChunkBody } from './chunk-body.js';
import type { HubAudit } from '../audit/index.js';
import type { StoreRoom } from '../../common/disk/index.js';
import { formatBytes } from '../../common/bytes.js';
import { LimitReached, shareKeys, type ShareRefusals } from '../shares/index.js';

/** How a chunk came: the upload channel, or a PUT on call home. */
export type ChunkTransport = 'channel' | 'call-home';

export interface AttachmentReceiverOptions {
  store: HubStore;
  audit: HubAudit;
  clock: Clock;
  /** Where the bytes go; several hub nodes may share it (and the store). */
  blobs: BlobStore;
  /** A chunk was written, checked and synced (not a repeat). */
  onChunkStored?: ((via: ChunkTransport) => void) | undefined;
  /** Each station's share of unfinished uploads (hub.yaml shares.perStation); none when absent. */
  shares?: UploadShares | undefined;
  /**
   * The disk's room: an upload is not started, nor a chunk written, without it; a write that ran out
   * of room answers STORE_FULL (the station sends the chunk again later).
   */
  room?: StoreRoom | undefined;
}

export interface UploadShares {
  /** Unfinished uploads of one station. */
  uploads: number;
  /** The announced sizes of one station's unfinished uploads. */
  pendingBytes: number;
  /**
   * An unfinished upload holding no received bytes stops counting this long after it started:
   * as long as retention keeps an idle upload's bytes (retention.problemData).
   */
  countForMs: number;
  refusals: ShareRefusals;
}

/** A step's answer: its HTTP status and JSON body. */
export interface ReceiverAnswer {
  status: number;
  body: AttachmentState | (ReturnType<LifelineError['toJSON']> & { receivedBytes: number });
}

/** How long a chunk that arrived ahead of its turn waits for the ones before it. */
const chunkWaitMs = 10_000;
/**
 * How many chunks past the next one to be written may arrive and wait: at most this many chunks
 * of an upload wait in memory (the agent sends its chunks one after another, so a chunk rarely
 * waits for more than the one being written).
 */
const chunksAhead = 3;

function stateOf(attachment: HubAttachment, extra: Partial<AttachmentState> = {}): AttachmentState {
  return {
    id: attachment.id,
    receivedBytes: attachment.state === 'receiving' ? attachment.receivedBytes : attachment.bytes,
    complete: attachment.state !== 'receiving',
    problemNumber: attachment.problemNumber,
    ...extra,
  };
}

/** Refusals the agent acts on carry the hub's resume point beside the code. */
function refusal(error: LifelineError, receivedBytes: number): ReceiverAnswer {
  return { status: error.httpStatus, body: { ...error.toJSON(), receivedBytes } };
}

export class AttachmentReceiver {
  readonly #options: AttachmentReceiverOptions;
  readonly #writers: AttachmentWriters;
  /** Completing runs once at a time per attachment (a resent request waits for the first). */
  readonly #completing = new Map<string, Promise<unknown>>();

  constructor(options: AttachmentReceiverOptions) {
    this.#options = options;
    this.#writers = new AttachmentWriters({
      store: options.store,
      clock: options.clock,
      blobs: options.blobs,
      chunkWaitMs,
      chunksAhead,
    });
  }

  async start(stationId: string, start: AttachmentStart): Promise<ReceiverAnswer> {
    const { store, clock, shares } = this.#options;
    await this.#options.room?.ensureRoom();
    const nowMs = clock.now();
    const { attachment, created } = await store.attachments
      .start(
        stationId,
        start,
        nowMs,
        shares && {
          countSinceMs: nowMs - shares.countForMs,
          check: (pending) => checkUploadShare(stationId, start.bytes, pending, shares),
        },
      )
      .catch((err: unknown) => {
        if (err instanceof LimitReached) shares?.refusals.refused(err, `station:${stationId}`);
        throw err;
      });
    if (attachment.state === 'receiving') this.#writers.prepare();
    return { status: created ? 201 : 200, body: stateOf(attachment) };
  }

  async state(stationId: string, id: string): Promise<AttachmentState> {
    return stateOf(await this.#own(stationId, id));
  }

  /**
   * One chunk: `manifestText` is the encoded manifest the agent sent with it (the transmission it
   * logged). Throws a LifelineError for a chunk that can never be taken as sent.
   */
  async chunk(
    stationId: string,
    id: string,
    index: number,
    manifestText: string | string[] | undefined,
    body: ChunkBody,
    via: ChunkTransport,
  ): Promise<ReceiverAnswer> {
    const manifest = decodeManifest(manifestText);
    if (typeof manifest === 'string') throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', manifest);
    if (manifest.kind !== 'attachment.chunk' || manifest.id !== id) {
      throw new LifelineError(
        'CALLHOME_ATTACHMENT_INVALID',
        `the manifest describes ${manifest.kind} ${manifest.id}, not a chunk of attachment ${id}`,
      );
    }
    if (body.byteLength !== manifest.bytes) {
      throw new LifelineError(
        'CALLHOME_ATTACHMENT_INVALID',
        `chunk ${index} refused: the manifest says ${manifest.bytes} bytes, ${body.byteLength} arrived`,
      );
    }
    const attachment = await this.#own(stationId, id);
    if (attachment.state !== 'receiving') {
      if (attachment.state === 'complete')
        return { status: 200, body: stateOf(attachment, { index, duplicate: true }) };
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
    const room = this.#options.room;
    await room?.ensureRoom(body.byteLength);
    try {
      const outcome = await this.#writers.write(attachment, start, end, body, manifest.sha256);
      if (!outcome.duplicate) this.#options.onChunkStored?.(via);
      return { status: 200, body: stateOf(outcome.attachment, { index, duplicate: outcome.duplicate }) };
    } catch (err) {
      if (err instanceof ChunkOutOfTurn) return refusal(err, err.receivedBytes);
      if (!room) throw err;
      throw await room.failed(err, this.#options.blobs.describe(blobKeyOf(attachment)));
    }
  }

  /** Verifies the whole file against the SHA-256 declared at start; a mismatch starts it over. */
  complete(stationId: string, id: string): Promise<ReceiverAnswer> {
    const before = this.#completing.get(id) ?? Promise.resolve();
    const run = before.then(
      () => this.#complete(stationId, id),
      () => this.#complete(stationId, id),
    );
    const settled = run.catch(() => undefined);
    this.#completing.set(id, settled);
    void settled.then(() => {
      if (this.#completing.get(id) === settled) this.#completing.delete(id);
    });
    return run;
  }

  close(): Promise<void> {
    return this.#writers.close();
  }

  async #complete(stationId: string, id: string): Promise<ReceiverAnswer> {
    const { store, audit, clock, blobs } = this.#options;
    const attachment = await this.#own(stationId, id);
    // Deleted or purged after it completed: the agent only needs to know it arrived.
    if (attachment.state !== 'receiving') return { status: 200, body: stateOf(attachment) };
    if (attachment.receivedBytes < attachment.bytes) {
      const error = new LifelineError(
        'CALLHOME_ATTACHMENT_INCOMPLETE',
        `attachment ${id}: ${attachment.receivedBytes} of ${attachment.bytes} bytes received`,
      );
      return refusal(error, attachment.receivedBytes);
    }
    const key = blobKeyOf(attachment);
    // Hashed as the chunks were written, unless some came through another node or the hub
    // restarted meanwhile: then the sealed blob is read back.
    const followed = await this.#writers.digestOf(id, attachment.bytes);
    this.#writers.forget(id);
    if (!(await blobs.seal(key, attachment.bytes))) {
      await store.attachments.restart(id, clock.now());
      const error = new LifelineError(
        'CALLHOME_ATTACHMENT_CHECKSUM',
        `the ${attachment.bytes} bytes received are no longer at ${blobs.describe(key)}: the upload starts over`,
      );
      return refusal(error, 0);
    }
    const sha256 = followed ?? (await hashBlob(blobs, key, attachment.bytes));
    if (sha256 !== attachment.sha256) {
      // The row first: a crash between the two leaves bytes that retention removes, never a row
      // counting bytes that are gone.
      await store.attachments.restart(id, clock.now());
      await blobs.remove(key);
      await audit.record(`station:${stationId}`, 'attachment.checksum-mismatch', stationId, {
        attachmentId: id,
        problemNumber: attachment.problemNumber,
        declared: attachment.sha256,
        received: sha256,
      });
      const error = new LifelineError(
        'CALLHOME_ATTACHMENT_CHECKSUM',
        `the SHA-256 of the ${attachment.bytes} bytes received differs from the one declared: the upload starts over`,
      );
      return refusal(error, 0);
    }
    const done = (await store.attachments.markComplete(id, clock.now())) ?? attachment;
    await audit.record(`station:${stationId}`, 'attachment.received', stationId, {
      attachmentId: id,
      problemNumber: attachment.problemNumber,
      name: attachment.name,
      bytes: attachment.bytes,
      sha256,
    });
    return { status: 200, body: stateOf(done) };
  }

  async #own(stationId: string, id: string): Promise<HubAttachment> {
    const attachment = await this.#options.store.attachments.get(id);
    if (!attachment || attachment.stationId !== stationId) {
      throw new LifelineError('CALLHOME_ATTACHMENT_NOT_FOUND', `no attachment ${id} of this station`);
    }
    return attachment;
  }
}

/** Refuses a new upload past the station's share; the agent keeps the file and tries again later. */
function checkUploadShare(
  stationId: string,
  bytes: number,
  pending: { uploads: number; bytes: number },
  shares: UploadShares,
): void {
  const later = 'the appliance keeps the file and sends it once earlier uploads complete';
  if (pending.uploads >= shares.uploads) {
    throw new LimitReached(
      'uploads',
      `station ${stationId} has ${pending.uploads} unfinished uploads, as many as one station may (hub.yaml ${shareKeys.uploads}): ${later}`,
    );
  }
  if (pending.bytes + bytes > shares.pendingBytes) {
    throw new LimitReached(
      'upload-bytes',
      `station ${stationId} has ${formatBytes(pending.bytes)} of unfinished uploads announced; this one (${formatBytes(bytes)}) would pass the ${formatBytes(shares.pendingBytes)} one station may have pending (hub.yaml ${shareKeys['upload-bytes']}): ${later}`,
    );
  }
}
