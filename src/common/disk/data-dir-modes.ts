// What `hub start` and `agent start` check before they run: a data directory, or a file or
// directory in it, that other local users may read or enter (a database copied in, a key restored
// from a backup, a directory made by hand or by an older version). Each is reported with its mode
// and the command that fixes it; nothing is changed, and the process starts anyway.

import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatMode, privateDirectoryMode, privateFileMode } from './files.js';

export interface LooseMode {
  path: string;
  kind: 'file' | 'directory';
  /** The permission bits found, e.g. 0o644. */
  mode: number;
  /** The shell command that gives it the mode Lifeline creates it with. */
  fix: string;
}

export interface LooseModeReport {
  /** At most `maxReported`, in the order the walk found them (the directory itself first). */
  loose: LooseMode[];
  /** How many more were found than are listed. */
  unlisted: number;
  /** A command that fixes every one at once, listed or not: chmod -R go-rwx DIR. */
  fixAll: string;
}

/** Walks `dataDir` (not following symbolic links), looking at up to `maxEntries` entries. */
export function findLooseModes(
  dataDir: string,
  options: { maxEntries?: number; maxReported?: number } = {},
): LooseModeReport {
  const maxEntries = options.maxEntries ?? 100_000;
  const maxReported = options.maxReported ?? 20;
  const loose: LooseMode[] = [];
  let found = 0;
  // Breadth first: the data directory and its own files come before what is deep in attachments/.
  const paths = [dataDir];
  for (let index = 0; index < paths.length; index++) {
    const path = paths[index] ?? dataDir;
    let stats;
    try {
      stats = lstatSync(path);
    } catch {
      continue; // gone meanwhile: the process that needs it says so itself
    }
    const kind = stats.isDirectory() ? 'directory' : stats.isFile() ? 'file' : undefined;
    if (kind === undefined) continue;
    if (kind === 'directory') {
      try {
        for (const name of readdirSync(path).sort())
          if (paths.length < maxEntries) paths.push(join(path, name));
      } catch {
        // Unreadable: its own mode is still checked below.
      }
    }
    const mode = stats.mode & 0o777;
    if ((mode & 0o077) === 0) continue;
    found++;
    if (loose.length < maxReported)
      loose.push({
        path,
        kind,
        mode,
        fix: `chmod ${(kind === 'file' ? privateFileMode : privateDirectoryMode).toString(8)} ${shellQuote(path)}`,
      });
  }
  return { loose, unlisted: found - loose.length, fixAll: `chmod -R go-rwx ${shellQuote(dataDir)}` };
}

/** One warning line per loose mode, and one for the rest if there are more than are listed. */
export function describeLooseModes(report: LooseModeReport): string[] {
  const lines = report.loose.map(
    (entry) =>
      `${entry.path} is ${formatMode(entry.mode)}: other local users have access to it (Lifeline makes it ${formatMode(entry.kind === 'file' ? privateFileMode : privateDirectoryMode)}); fix: ${entry.fix}`,
  );
  if (report.unlisted > 0)
    lines.push(`${report.unlisted} more file(s) or directories like these; fix them all: ${report.fixAll}`);
  return lines;
}

/** A path as one shell word: as it is when that is safe, else in single quotes. */
function shellQuote(path: string): string {
  return /^[A-Za-z0-9_./@:+,=-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
