// Writing and hashing attachment chunks off the event loop. The hub's event loop receives chunks
// from many stations; hashing megabytes there held up every connection, and keeping their buffers
// there made V8 collect its whole heap every few chunks. A worker thread takes each chunk's
// buffers (handed over, not copied, when the body owns them), writes them at their offset, hashes
// them, and follows each upload's whole-file SHA-256 as its chunks come in order, so completing an
// upload needs no read-back.

import { Worker } from 'node:worker_threads';
import { LifelineError } from '../../common/errors.js';
import { ownCopy, type ChunkBody } from './chunk-body.js';

export type ChunkThreadRequest =
  | { op: 'write'; seq: number; id: string; path: string; start: number; parts: Uint8Array[] }
  | { op: 'digest'; seq: number; id: string; bytes: number }
  | { op: 'forget'; id: string };

/** `code` is the system error's (ENOSPC, EDQUOT...), so the hub can tell a full disk from a bug. */
export type ChunkThreadAnswer =
  { seq: number; sha256: string | null } | { seq: number; error: string; code?: string };

/** The worker's own file next to this one: .ts when run from the sources, .js when built. */
const workerUrl = new URL(
  import.meta.url.endsWith('.ts') ? './chunk-writer-thread-worker.ts' : './chunk-writer-thread-worker.js',
  import.meta.url,
);

export class ChunkWriterThread {
  #worker: Worker | undefined;
  #seq = 0;
  readonly #pending = new Map<
    number,
    { resolve: (sha256: string | null) => void; reject: (err: Error) => void }
  >();
  #closed = false;

  /**
   * Writes a chunk's bytes at `start` in the file (which exists) and resolves with their SHA-256
   * once they are written (not synced). When they follow the chunks written before for `id` (or
   * start at 0), they also extend its whole-file SHA-256. The body's buffers belong to the thread
   * from now on: an exclusive body's parts are handed over (and unusable here afterwards), another
   * body is copied into one buffer first.
   */
  async writeAndHash(id: string, path: string, start: number, body: ChunkBody): Promise<string> {
    const parts = body.exclusive ? body.parts : [ownCopy(body.parts)];
    const sha256 = await this.#ask(
      (seq) => ({ op: 'write', seq, id, path, start, parts: [...parts] }),
      // A Buffer's memory is an ArrayBuffer here (never a SharedArrayBuffer).
      parts.map((part) => part.buffer as ArrayBuffer),
    );
    if (sha256 === null) throw new LifelineError('INTERNAL', `no SHA-256 for ${path}`);
    return sha256;
  }

  /** The whole-file SHA-256 of `id` when all of its `bytes` were hashed in order; else null. */
  digest(id: string, bytes: number): Promise<string | null> {
    return this.#ask((seq) => ({ op: 'digest', seq, id, bytes }));
  }

  /** Starts the thread ahead of the first chunk (an upload is starting), so that chunk does not wait for it. */
  warm(): void {
    if (!this.#closed) this.#started();
  }

  /** Drops what is known of `id` (the upload completed, restarted or failed). */
  forget(id: string): void {
    this.#worker?.postMessage({ op: 'forget', id } satisfies ChunkThreadRequest);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll(new LifelineError('INTERNAL', 'the hub is stopping'));
    await worker?.terminate();
  }

  #ask(request: (seq: number) => ChunkThreadRequest, transfer: ArrayBuffer[] = []): Promise<string | null> {
    if (this.#closed) return Promise.reject(new LifelineError('INTERNAL', 'the hub is stopping'));
    const worker = this.#started();
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      worker.postMessage(request(seq), transfer);
    });
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    // Run from the sources (tests), the worker registers the TypeScript loader before loading it.
    const worker = workerUrl.pathname.endsWith('.ts')
      ? new Worker(
          `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl.href)}); });`,
          { eval: true },
        )
      : new Worker(workerUrl);
    // An idle thread does not keep the hub's process alive.
    worker.unref();
    worker.on('message', (answer: ChunkThreadAnswer) => {
      const waiter = this.#pending.get(answer.seq);
      this.#pending.delete(answer.seq);
      if (!waiter) return;
      if ('error' in answer) waiter.reject(threadFailure(answer));
      else waiter.resolve(answer.sha256);
    });
    const lost = (err: Error): void => {
      if (this.#worker !== worker) return;
      // A new worker starts at the next request; what the lost one followed is unknown now.
      this.#worker = undefined;
      this.#failAll(new LifelineError('INTERNAL', `the writing thread stopped: ${err.message}`));
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`exit code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #failAll(err: Error): void {
    for (const waiter of this.#pending.values()) waiter.reject(err);
    this.#pending.clear();
  }
}

/** A write the thread could not do: a system error keeps its code (a full disk becomes STORE_FULL). */
function threadFailure(answer: { error: string; code?: string }): Error {
  if (answer.code === undefined) return new LifelineError('INTERNAL', `hashing failed: ${answer.error}`);
  return Object.assign(new Error(`writing the chunk failed: ${answer.error}`), { code: answer.code });
}
