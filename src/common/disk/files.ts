// Writing secrets and state files: every file Lifeline creates is 0600 and every directory it owns
// 0700, whatever the umask and whatever mode a file it overwrites had, so no other local user reads
// a key, a token, a password hash or a TOTP secret. Private files are never overwritten by accident.

import {
  chmodSync,
  closeSync,
  fchmodSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';

/** The mode of every file Lifeline creates. */
export const privateFileMode = 0o600;
/** The mode of every directory Lifeline creates or owns (data directories, $LIFELINE_HOME). */
export const privateDirectoryMode = 0o700;

/**
 * Writes `data` to a new file (or, with `overwrite`, over an existing one) readable by its owner
 * only. The mode is set on the open file: an existing file loses a looser mode, and the umask
 * plays no part.
 */
export function writePrivateFile(path: string, data: string, overwrite = false): void {
  const fd = openSync(path, overwrite ? 'w' : 'wx', privateFileMode);
  try {
    fchmodSync(fd, privateFileMode);
    // On a descriptor, writeFileSync writes until all of `data` is out (one writeSync may not).
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** Replaces a file atomically (write then rename), so a reader never sees half of it; 0600. */
export function replaceFile(path: string, data: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writePrivateFile(temp, data, true);
  renameSync(temp, path);
}

/**
 * Creates an empty file readable by its owner only, if there is none (a database before SQLite
 * opens it: SQLite gives its -wal, -shm and journal files the database file's mode). Returns
 * whether it created one.
 */
export function createPrivateFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', privateFileMode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fchmodSync(fd, privateFileMode);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Makes `path` (and any missing parent) a directory only its owner can enter, tightening it if it
 * exists with a looser mode (an operator's `mkdir -m 755`, a package's default). Returns the mode
 * it had when it was tightened, so the caller can say so; undefined when nothing changed.
 */
export function ensurePrivateDirectory(path: string): number | undefined {
  mkdirSync(path, { recursive: true, mode: privateDirectoryMode });
  const mode = statSync(path).mode & 0o7777;
  if ((mode & 0o077) === 0) return undefined;
  chmodSync(path, privateDirectoryMode);
  return mode;
}

/** A mode as `ls` and `chmod` write it: 0644. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** Syncs a directory, so that a file created or renamed in it survives a crash. */
export async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
