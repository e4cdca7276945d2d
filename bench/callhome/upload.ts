// Upload throughput: one file sent as a problem's error data through Lifeline (agent → hub, chunked,
// checksummed, resumable) against the same file over one raw TLS connection to a process that
// writes and syncs it, in the same run.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'node:tls';
import Database from 'better-sqlite3';
import { repoRoot } from '../tunnel/lifeline-setup.js';

/** Writes `bytes` random bytes to `path` (1 MiB at a time); returns their SHA-256 in hex. */
export function writeRandomFile(path: string, bytes: number): string {
  const fd = openSync(path, 'w');
  const block = randomBytes(1024 * 1024);
  const hash = createHash('sha256');
  for (let written = 0; written < bytes; written += block.length) {
    const length = Math.min(block.length, bytes - written);
    writeSync(fd, block, 0, length);
    hash.update(block.subarray(0, length));
  }
  closeSync(fd);
  return hash.digest('hex');
}

/**
 * Touches `bytes` of memory in a child process that then exits, so the transfer measured next
 * finds that much memory freed a moment ago. On the VMs these figures come from, the host takes
 * back memory the guest has left free for a few seconds, and the guest's first writes into such
 * memory (new page-cache pages, new buffers) cost about three times as much; without this, the
 * transfer that happens to come after a quiet spell or after the other one pays for it.
 */
export async function primeFreeMemory(bytes: number): Promise<void> {
  // In pieces: one Buffer holds at most a few GiB.
  const touch = `const held = []; for (let left = ${bytes}; left > 0; left -= 2 ** 28)
    held.push(Buffer.allocUnsafeSlow(Math.min(left, 2 ** 28)).fill(1));`;
  const child = spawn(process.execPath, ['-e', touch], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`priming ${bytes} bytes of memory failed (exit code ${code})`);
}

/**
 * Sends `file` over raw TLS to a receiver process; resolves with bytes per second once the copy
 * is checked against `sha256`. The copy is then deleted, so each transfer of a run starts with as
 * much of the page cache free as the one before.
 */
export async function measureRawTls(options: {
  file: string;
  sha256: string;
  certPath: string;
  keyPath: string;
  caPath: string;
  outPath: string;
  /** Runs once the receiver is ready, just before the transfer starts. */
  beforeStart?: () => Promise<void>;
}): Promise<number> {
  const receiver = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repoRoot, 'bench', 'callhome', 'raw-tls-receiver.ts'),
      options.certPath,
      options.keyPath,
      options.outPath,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const lines = createInterface({ input: receiver.stdout });
    const iterator = lines[Symbol.asyncIterator]();
    const port = Number((await iterator.next()).value);
    if (!Number.isInteger(port) || port <= 0) throw new Error('the raw TLS receiver did not start');
    await options.beforeStart?.();
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ca: readFileSync(options.caPath),
        // The hub's server certificate names the hub's public host; the CA pin is what matters here.
        checkServerIdentity: () => undefined,
      });
      socket.once('error', reject);
      socket.once('secureConnect', () => {
        const stream = createReadStream(options.file, { highWaterMark: 1024 * 1024 });
        stream.pipe(socket, { end: false });
        stream.once('end', () => socket.end());
      });
      socket.on('data', () => undefined);
      socket.once('end', () => resolve());
    });
    const seconds = (performance.now() - started) / 1000;
    const answer = JSON.parse(String((await iterator.next()).value)) as { bytes: number; sha256: string };
    if (answer.sha256 !== options.sha256)
      throw new Error(
        `the raw TLS receiver wrote a file whose SHA-256 is ${answer.sha256}, not ${options.sha256}`,
      );
    return answer.bytes / seconds;
  } finally {
    receiver.kill();
    rmSync(options.outPath, { force: true });
  }
}

/** Polls the hub's database until the attachment is complete; resolves with bytes per second since startedAt. */
export async function waitForUpload(options: {
  hubDir: string;
  bytes: number;
  startedAt: number;
  timeoutMs: number;
}): Promise<number> {
  const db = new Database(join(options.hubDir, 'hub.db'), { readonly: true, fileMustExist: true });
  try {
    const query = db.prepare("select count(*) as n from attachments where state = 'complete' and bytes = ?");
    for (;;) {
      const { n } = query.get(options.bytes) as { n: number };
      const elapsedMs = performance.now() - options.startedAt;
      if (n > 0) return (options.bytes / elapsedMs) * 1000;
      if (elapsedMs > options.timeoutMs)
        throw new Error(`the upload did not complete within ${options.timeoutMs} ms`);
      // Often, so the end is seen when it happens, as the raw transfer's is (the query takes
      // microseconds).
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  } finally {
    db.close();
  }
}
