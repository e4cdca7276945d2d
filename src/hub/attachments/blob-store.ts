// Where the bytes of attachments live: every write, read and removal of them goes through a
// BlobStore. The database records what is known of an upload (its resume point, its state); the
// blob store holds the bytes and whatever its unfinished writes need, findable by key alone, so
// any hub node sharing both can resume an upload another node began. The shape follows what an
// S3-compatible store can do (docs/attachments.md, "Where attachment bytes live"): an upload is
// written as numbered parts that may be written again, made durable, then sealed whole into a
// blob that becomes readable only then; reads take byte ranges; nothing is appended in place or
// renamed by the caller.

import type { Readable } from 'node:stream';
import type { ChunkBody } from './chunk-body.js';

/** One attachment's bytes: the station that sent them and the attachment's id (both checked safe). */
export interface BlobKey {
  stationId: string;
  id: string;
}

/** An upload's fixed shape, from its start: its length and the length of every part but the last. */
export interface BlobShape {
  bytes: number;
  partBytes: number;
}

/** One part of an upload: its number from 0 and the bytes [start, end) it covers. */
export interface BlobPart {
  index: number;
  start: number;
  end: number;
}

/** Bytes [start, end) of a sealed blob. */
export interface BlobRange {
  start: number;
  end: number;
}

/**
 * The unfinished blob of one upload, as one hub node writes it. It holds nothing another node
 * would need: a node that opens the same key later continues from the resume point the database
 * records, whatever this handle wrote past it.
 */
export interface BlobUpload {
  /**
   * Writes one part, replacing what an earlier write of the same part left. The body's buffers are
   * the store's from now on. Parts are written in the order they are handed over (the next may be
   * handed over before this one resolved). Resolves with the SHA-256 of the bytes written, once they
   * are written; they are durable only after the next flush.
   */
  writePart(part: BlobPart, body: ChunkBody): Promise<string>;
  /** Makes every part written so far durable: only then may the database count them. */
  flush(): Promise<void>;
  /**
   * The SHA-256 of the first `bytes` bytes when all of them were written through this handle in
   * order (so sealing needs no read-back); null otherwise.
   */
  digest(bytes: number): Promise<string | null>;
  /** This node is done with the upload for now (completed, dropped or failed); idempotent. */
  close(): Promise<void>;
}

export interface BlobStore {
  /** Where the bytes live, for messages and logs: a directory, a bucket. */
  readonly location: string;
  /** Names one blob for messages (a path, a URL); never a secret. */
  describe(key: BlobKey): string;
  /** An upload is about to begin: whatever writing needs is readied before its first part. */
  prepare(): void;
  /** Opens the unfinished blob of `key` for writing, creating it when there is none. */
  openUpload(key: BlobKey, shape: BlobShape): Promise<BlobUpload>;
  /**
   * Makes the first `bytes` bytes of the unfinished blob the readable blob of `key` (an empty blob
   * needs no part). Sealing a blob sealed already is a no-op. Resolves false when the store holds
   * neither: the bytes were lost, and the upload must start over.
   */
  seal(key: BlobKey, bytes: number): Promise<boolean>;
  /** Bytes of a sealed blob, the whole of it or a range. Rejects when there is none. */
  read(key: BlobKey, range?: BlobRange): Promise<Readable>;
  /**
   * Removes the blob and any unfinished upload of `key`, resolving with how many bytes they held
   * (0 when there was nothing). Idempotent.
   */
  remove(key: BlobKey): Promise<number>;
  /** Stops what the store runs (its writing thread); uploads still open fail. Idempotent. */
  close(): Promise<void>;
}
