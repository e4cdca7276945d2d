// Progress of a fix transfer on standard error: a cli-progress bar on a terminal, and a plain line
// every tenth of the way otherwise (logs and pipes get no control characters).

import cliProgress from 'cli-progress';
import { formatBytes } from '../common/bytes.js';
import { printError, tty, type TerminalText } from './io.js';

export interface ByteProgress {
  /** `doneBytes` counts from the start of the file, resumed bytes included. */
  update(doneBytes: number): void;
  stop(): void;
}

export function startByteProgress(label: TerminalText, totalBytes: number, startBytes = 0): ByteProgress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {done} of {size} | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const size = formatBytes(totalBytes);
    bar.start(Math.max(totalBytes, 1), startBytes, { done: formatBytes(startBytes), size });
    return {
      update: (doneBytes) => bar.update(doneBytes, { done: formatBytes(doneBytes), size }),
      stop: () => bar.stop(),
    };
  }
  let nextTenth = totalBytes === 0 ? 10 : Math.floor((startBytes / totalBytes) * 10) + 1;
  const line = (doneBytes: number) =>
    printError(
      tty`${label}: ${formatBytes(doneBytes)} of ${formatBytes(totalBytes)} (${totalBytes === 0 ? 100 : Math.floor((doneBytes / totalBytes) * 100)}%)`,
    );
  if (startBytes > 0) line(startBytes);
  return {
    update: (doneBytes) => {
      if (totalBytes === 0 || doneBytes * 10 < nextTenth * totalBytes) return;
      nextTenth = Math.floor((doneBytes / totalBytes) * 10) + 1;
      line(doneBytes);
    },
    stop: () => undefined,
  };
}
