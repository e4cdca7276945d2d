// Writing secrets and state files: private files are created 0600 and never overwritten by accident.

import { writeFileSync, renameSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** Writes a file readable only by its owner; fails if it exists unless `overwrite`. */
export function writePrivateFile(path: string, data: string, overwrite = false): void {
  writeFileSync(path, data, { mode: 0o600, flag: overwrite ? 'w' : 'wx' });
}

/** Replaces a file atomically (write then rename), so a reader never sees half of it. */
export function replaceFile(path: string, data: string, mode = 0o644): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, data, { mode });
  renameSync(temp, path);
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
