// Staging extended error data: a file sent to the admin API is streamed to the data directory
// (never held in memory), hashed on the way, synced, and only then recorded, so an attachment the
// agent acknowledged survives a crash. What a crash leaves half-written is swept at start.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { privateDirectoryMode, privateFileMode, syncDirectory } from '../../common/disk/index.js';
import { attachmentNameSchema } from '../../protocol/index.js';
import type { AttachmentRecord, AttachmentStore } from './attachment-store.js';

export function stagedFilePath(dir: string, id: string): string {
  return join(dir, `${id}.data`);
}

export async function stageAttachment(options: {
  store: AttachmentStore;
  dir: string;
  clock: Clock;
  problemLocalId: string;
  name: string;
  body: Readable;
  /** The size the sender announced; a body of another size is refused. */
  expectedBytes?: number | undefined;
  maxBytes: number;
  chunkBytes: number;
}): Promise<AttachmentRecord> {
  const { store, dir } = options;
  const named = attachmentNameSchema.safeParse(options.name);
  if (!named.success) {
    options.body.resume();
    throw new LifelineError('API_BAD_REQUEST', `name: ${named.error.issues[0]?.message ?? 'invalid'}`);
  }
  if ((await store.problemDelivery(options.problemLocalId)) === 'unknown') {
    options.body.resume();
    throw new LifelineError(
      'API_NOT_FOUND',
      `no problem ${options.problemLocalId} was opened on this appliance`,
    );
  }
  const limit = Math.min(options.maxBytes, options.expectedBytes ?? options.maxBytes);
  const id = randomBytes(16).toString('hex');
  await mkdir(dir, { recursive: true, mode: privateDirectoryMode });
  const partial = join(dir, `${id}.partial`);
  const hash = createHash('sha256');
  const chunkHashes = new ChunkHashes(options.chunkBytes);
  let bytes = 0;
  const file = await open(partial, 'w', privateFileMode);
  try {
    for await (const chunk of options.body) {
      const block = chunk as Buffer;
      bytes += block.byteLength;
      if (bytes > limit) {
        throw new LifelineError(
          'CALLHOME_ATTACHMENT_TOO_LARGE',
          options.expectedBytes !== undefined && bytes > options.expectedBytes
            ? `the file is longer than the ${options.expectedBytes} bytes announced`
            : `an attachment may hold at most ${options.maxBytes} bytes`,
        );
      }
      hash.update(block);
      chunkHashes.update(block);
      await file.write(block);
    }
    if (options.expectedBytes !== undefined && bytes !== options.expectedBytes) {
      throw new LifelineError(
        'API_BAD_REQUEST',
        `the file was cut short: ${bytes} of the ${options.expectedBytes} bytes announced arrived`,
      );
    }
    await file.sync();
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(partial, { force: true });
    options.body.destroy();
    throw err;
  }
  await file.close();
  await rename(partial, stagedFilePath(dir, id));
  await syncDirectory(dir);
  return store.add(
    {
      id,
      problemLocalId: options.problemLocalId,
      name: named.data,
      bytes,
      sha256: hash.digest('hex'),
      chunkBytes: options.chunkBytes,
      createdAtMs: options.clock.now(),
    },
    chunkHashes.digests(),
  );
}

/** The SHA-256 of each `chunkBytes` of a stream, fed in blocks of any size. */
export class ChunkHashes {
  readonly #chunkBytes: number;
  readonly #done: string[] = [];
  #current = createHash('sha256');
  #filled = 0;

  constructor(chunkBytes: number) {
    this.#chunkBytes = chunkBytes;
  }

  update(block: Buffer): void {
    let at = 0;
    while (at < block.byteLength) {
      const take = Math.min(this.#chunkBytes - this.#filled, block.byteLength - at);
      this.#current.update(block.subarray(at, at + take));
      this.#filled += take;
      at += take;
      if (this.#filled === this.#chunkBytes) {
        this.#done.push(this.#current.digest('hex'));
        this.#current = createHash('sha256');
        this.#filled = 0;
      }
    }
  }

  /** One digest per chunk; the last chunk may be short. An empty stream has no chunk. */
  digests(): string[] {
    return this.#filled > 0 ? [...this.#done, this.#current.copy().digest('hex')] : [...this.#done];
  }
}

/** Removes half-staged files, and staged files no upload needs any more (a crash's leftovers). */
export async function sweepStagingDir(store: AttachmentStore, dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = /^([0-9a-f]{32})\.(data|partial)$/.exec(name);
    if (!match?.[1]) continue;
    const record = match[2] === 'data' ? await store.get(match[1]) : undefined;
    if (!record || record.state === 'uploaded') await rm(join(dir, name), { force: true });
  }
}
