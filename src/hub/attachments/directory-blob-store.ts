// The default blob store: a directory, DIR/<stationId>/<id>, that several hub nodes may share. An
// upload is written at its parts' offsets into DIR/<stationId>/<id>.part by the writing thread and
// synced before the database counts it; sealing truncates it to its length, syncs it and renames it
// to its blob's name, so a blob's name only ever shows whole bytes. A node resuming an upload
// another began opens the same .part file and writes from the resume point the database records.
// Files are 0600, directories 0700.

import { constants } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { privateDirectoryMode, privateFileMode, syncDirectory } from '../../common/disk/index.js';
import { LifelineError } from '../../common/errors.js';
import { blobsDirOf, type BlobsConfig } from './blob-config.js';
import type { BlobKey, BlobPart, BlobRange, BlobStore, BlobUpload } from './blob-store.js';
import type { ChunkBody } from './chunk-body.js';
import { ChunkWriterThread } from './chunk-writer-thread.js';

/** The blob store hub.yaml `blobs:` names, for a hub whose data directory is `dataDir`. */
export function openBlobStore(blobs: BlobsConfig, dataDir: string): BlobStore {
  return new DirectoryBlobStore(blobsDirOf(blobs, dataDir));
}

export class DirectoryBlobStore implements BlobStore {
  readonly location: string;
  readonly #thread = new ChunkWriterThread();

  constructor(dir: string) {
    this.location = dir;
  }

  /** Station ids and attachment ids are checked on the way in, so they are safe path parts. */
  describe(key: BlobKey): string {
    return join(this.location, key.stationId, key.id);
  }

  prepare(): void {
    this.#thread.warm();
  }

  async openUpload(key: BlobKey): Promise<BlobUpload> {
    const dir = join(this.location, key.stationId);
    const partPath = this.#partPath(key);
    await mkdir(dir, { recursive: true, mode: privateDirectoryMode });
    const hasPart = await stat(partPath).then(
      () => true,
      () => false,
    );
    // Bytes under the blob's own name while the upload is unfinished were written in place by an
    // older hub, or sealed by a node that stopped before the database heard: they go on as the part.
    if (!hasPart) await rename(this.describe(key), partPath).catch(ignoreMissing);
    // Created if still missing, never truncated: another node may be writing it.
    const file = await open(partPath, constants.O_WRONLY | constants.O_CREAT, privateFileMode);
    await file.close();
    return new DirectoryBlobUpload(this.#thread, key.id, partPath, dir);
  }

  async seal(key: BlobKey, bytes: number): Promise<boolean> {
    const dir = join(this.location, key.stationId);
    const blobPath = this.describe(key);
    const part = await open(this.#partPath(key), 'r+').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (!part) {
      if (bytes === 0) {
        await mkdir(dir, { recursive: true, mode: privateDirectoryMode });
        await writeFile(blobPath, '', { mode: privateFileMode });
        await syncDirectory(dir);
        return true;
      }
      // Sealed already (by this node or another), or lost.
      return stat(blobPath).then(
        (found) => found.size === bytes,
        () => false,
      );
    }
    try {
      await part.truncate(bytes);
      await part.datasync();
    } finally {
      await part.close();
    }
    try {
      await rename(this.#partPath(key), blobPath);
    } catch (err) {
      // Another node sealed it between our open and our rename (a completion asked of two nodes).
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return stat(blobPath).then(
        (found) => found.size === bytes,
        () => false,
      );
    }
    await syncDirectory(dir);
    return true;
  }

  async read(key: BlobKey, range?: BlobRange): Promise<Readable> {
    const path = this.describe(key);
    // Opened here, so a missing blob rejects before anyone starts sending it.
    const file = await open(path, 'r').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new LifelineError(
        'CALLHOME_ATTACHMENT_GONE',
        `the bytes of attachment ${key.id} are not at ${path}`,
        {
          cause: err,
        },
      );
    });
    if (range && range.end <= range.start) {
      await file.close();
      return Readable.from([]);
    }
    return file.createReadStream({
      highWaterMark: 4 * 1024 * 1024,
      ...(range ? { start: range.start, end: range.end - 1 } : {}),
    });
  }

  async remove(key: BlobKey): Promise<number> {
    let bytes = 0;
    for (const path of [this.#partPath(key), this.describe(key)]) {
      bytes += await stat(path).then(
        (found) => found.size,
        () => 0,
      );
      await rm(path, { force: true });
    }
    return bytes;
  }

  close(): Promise<void> {
    return this.#thread.close();
  }

  #partPath(key: BlobKey): string {
    return `${this.describe(key)}.part`;
  }
}

/** One node's writes of one upload: parts go to the writing thread, a flush syncs the file. */
class DirectoryBlobUpload implements BlobUpload {
  readonly #thread: ChunkWriterThread;
  readonly #id: string;
  readonly #path: string;
  readonly #dir: string;
  /** The file's name is made durable with the first flush of each handle. */
  #nameSynced = false;
  #closed = false;

  constructor(thread: ChunkWriterThread, id: string, path: string, dir: string) {
    this.#thread = thread;
    this.#id = id;
    this.#path = path;
    this.#dir = dir;
  }

  writePart(part: BlobPart, body: ChunkBody): Promise<string> {
    if (this.#closed)
      return Promise.reject(new LifelineError('INTERNAL', `the upload of ${this.#id} was closed`));
    return this.#thread.writeAndHash(this.#id, this.#path, part.start, body);
  }

  async flush(): Promise<void> {
    // Syncing through a descriptor of its own covers what the thread wrote through others (one inode).
    const file = await open(this.#path, 'r+');
    try {
      await file.datasync();
    } finally {
      await file.close();
    }
    if (!this.#nameSynced) {
      await syncDirectory(this.#dir);
      this.#nameSynced = true;
    }
  }

  digest(bytes: number): Promise<string | null> {
    if (this.#closed) return Promise.resolve(null);
    return this.#thread.digest(this.#id, bytes);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#thread.forget(this.#id);
    }
    return Promise.resolve();
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
