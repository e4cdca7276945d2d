// A full disk is an answer, not a crash: which failed writes mean "no room" (the filesystem is full,
// the user's disk quota is used up, a database reached its size limit), and the STORE_FULL error
// that says which path could not be written and how much space is left.

import { rm, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatBytes } from '../bytes.js';
import { LifelineError } from '../errors.js';

/** What ran out: the filesystem, the user's disk quota, or a database's own size limit. */
export type StoreFullReason = 'disk' | 'quota' | 'size-limit';

/**
 * An I/O error (SQLITE_IOERR_*, whose errno better-sqlite3 does not pass on) counts as a full disk
 * only when the filesystem has less than this free: with room left it is a real I/O error.
 */
export const nearlyFullBytes = 1024 * 1024;

export interface StoreFullFields {
  /** The file or directory that could not be written. */
  path: string;
  /** The directory whose filesystem ran out of room (the one measured). */
  dir: string;
  reason: StoreFullReason;
  /** Bytes free for this process on that filesystem when measured; null when it could not be. */
  freeBytes: number | null;
  /**
   * For a lack of room free space does not show (a quota, a size limit): whether there is room
   * again. Absent for a full filesystem, which free space tells alone.
   */
  roomAgain?: (() => Promise<boolean>) | undefined;
}

/** STORE_FULL with what it is about, so the process can show the condition and see it end. */
export class StoreFullError extends LifelineError implements StoreFullFields {
  readonly path: string;
  readonly dir: string;
  readonly reason: StoreFullReason;
  readonly freeBytes: number | null;
  readonly roomAgain: (() => Promise<boolean>) | undefined;

  constructor(fields: StoreFullFields, message: string, options?: { cause?: unknown }) {
    super('STORE_FULL', message, options);
    this.path = fields.path;
    this.dir = fields.dir;
    this.reason = fields.reason;
    this.freeBytes = fields.freeBytes;
    this.roomAgain = fields.roomAgain;
  }
}

/** The storage failures an audit entry or a batch must not pass off as a decision. */
export function isStoreFailure(err: unknown): boolean {
  return err instanceof LifelineError && (err.code === 'STORE_FULL' || err.code === 'STORE_FAILED');
}

/** Bytes this process may still write on the filesystem of `path` (statfs: available blocks). */
export async function freeBytesOf(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}

function errorCodeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** What to do, the same in every STORE_FULL message. */
export const storeFullAdvice =
  'free space there: nothing accepted before is lost, and writing resumes by itself once there is room';

function freeText(dir: string, freeBytes: number | null): string {
  return freeBytes === null
    ? `the free space of ${dir} is unknown`
    : `${dir} has ${formatBytes(freeBytes)} free`;
}

/**
 * The STORE_FULL error for a write of `path` that failed for lack of room (ENOSPC, EDQUOT,
 * SQLITE_FULL, or an SQLite I/O error on a filesystem that is nearly full); undefined when it failed
 * for another reason. `dir` is measured with statfs (by default the directory holding `path`).
 */
export async function storeFullErrorOf(
  err: unknown,
  path: string,
  dir: string = dirname(path),
): Promise<StoreFullError | undefined> {
  if (err instanceof StoreFullError) return err;
  const code = errorCodeOf(err);
  const ioError = typeof code === 'string' && code.startsWith('SQLITE_IOERR');
  if (code !== 'ENOSPC' && code !== 'SQLITE_FULL' && code !== 'EDQUOT' && !ioError) return undefined;
  const freeBytes = await freeBytesOf(dir).catch(() => null);
  if (ioError && (freeBytes === null || freeBytes >= nearlyFullBytes)) return undefined;
  const codeText = typeof code === 'string' ? code : 'ENOSPC';
  if (code === 'EDQUOT') {
    return new StoreFullError(
      { path, dir, reason: 'quota', freeBytes, roomAgain: () => canWriteIn(dir) },
      `the disk quota is used up: ${path} cannot be written (EDQUOT), although ${freeText(dir, freeBytes)}; raise the quota or ${storeFullAdvice}`,
      { cause: err },
    );
  }
  return new StoreFullError(
    { path, dir, reason: 'disk', freeBytes },
    `the disk is full: ${path} cannot be written (${codeText}); ${freeText(dir, freeBytes)}; ${storeFullAdvice}`,
    { cause: err },
  );
}

/** Throws the STORE_FULL error for `err` when it is a lack of room, else `err` itself. */
export async function rethrowStoreFull(err: unknown, path: string, dir?: string): Promise<never> {
  throw (await storeFullErrorOf(err, path, dir)) ?? err;
}

/** Bytes a quota probe writes: enough to need new blocks, little enough to cost nothing. */
const probeBytes = 64 * 1024;

/**
 * Whether a new file can be written in `dir` now: a disk quota is not shown by statfs, so the
 * only way to see it has room again is to use some.
 */
export async function canWriteIn(dir: string): Promise<boolean> {
  const probe = join(dir, `.lifeline-space-probe-${process.pid}`);
  try {
    await writeFile(probe, Buffer.alloc(probeBytes), { mode: 0o600 });
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}
