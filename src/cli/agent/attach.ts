// `--attach FILE` of `lifeline agent problem open|update`, and `lifeline agent attachments`: files
// are streamed to the agent (which stages them durably), then the upload to the hub is followed
// with a progress bar until it is done, or until the hub makes no progress for a while.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { Command } from 'commander';
import { LifelineError } from '../../common/errors.js';
import type { AttachmentRecord } from '../../agent/attachments/index.js';
import { formatBytes } from '../../common/bytes.js';
import { startByteProgress } from '../fix-progress.js';
import { AdminClient } from '../admin-client.js';
import { ago, printJson, printLine, printTable, tty } from '../io.js';

/** Collects repeated `--attach FILE` options. */
export function collectFiles(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Streams each file to the agent; resolves with what it staged (durably, once this returns). */
export async function stageFiles(
  client: AdminClient,
  localId: string,
  files: string[],
): Promise<AttachmentRecord[]> {
  const staged: AttachmentRecord[] = [];
  for (const file of files) {
    let size: number;
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error('not a regular file');
      size = info.size;
    } catch (err) {
      throw new LifelineError('API_BAD_REQUEST', `--attach ${file}: ${(err as Error).message}`);
    }
    const name = basename(file);
    const progress = startByteProgress(tty`Staging ${name}`, size);
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sent += chunk.byteLength;
        progress.update(sent);
        done(null, chunk);
      },
    });
    const source = createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(counter);
    try {
      const record = await client.sendStream<AttachmentRecord>(
        `/v1/problems/${encodeURIComponent(localId)}/attachments?name=${encodeURIComponent(name)}&bytes=${size}`,
        Readable.toWeb(source),
      );
      staged.push(record);
    } finally {
      progress.stop();
    }
    printLine(tty`Attachment ${name} (${formatBytes(size)}) staged as ${staged.at(-1)?.id ?? '?'}`);
  }
  return staged;
}

/**
 * Follows uploads to the hub until every one is uploaded or failed. Never hangs: when the hub has
 * acknowledged nothing new for `stallMs`, it says the upload goes on in the background and returns.
 */
export async function followUploads(
  client: AdminClient,
  staged: AttachmentRecord[],
  options: { stallMs?: number; everyMs?: number } = {},
): Promise<void> {
  if (staged.length === 0) return;
  const stallMs = options.stallMs ?? 15_000;
  const ids = new Set(staged.map((a) => a.id));
  const totalBytes = staged.reduce((sum, a) => sum + a.bytes, 0);
  const progress = startByteProgress(tty`Uploading to the hub`, totalBytes);
  let lastDone = -1;
  let lastChangeMs = Date.now();
  let current: AttachmentRecord[] = staged;
  try {
    for (;;) {
      const { attachments } = await client.request<{ attachments: AttachmentRecord[] }>(
        'GET',
        '/v1/attachments',
      );
      current = attachments.filter((a) => ids.has(a.id));
      const done = current.reduce((sum, a) => sum + (a.state === 'uploaded' ? a.bytes : a.ackedBytes), 0);
      if (done !== lastDone) {
        lastDone = done;
        lastChangeMs = Date.now();
        progress.update(done);
      }
      if (current.every((a) => a.state === 'uploaded' || a.state === 'failed')) break;
      if (Date.now() - lastChangeMs >= stallMs) {
        progress.stop();
        const reason = current.find((a) => a.lastError)?.lastError;
        printLine(
          tty`The hub made no progress for ${Math.round(stallMs / 1000)} s${reason ? ` (${reason})` : ''}: the upload continues in the background (see lifeline agent attachments)`,
        );
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 500));
    }
  } finally {
    progress.stop();
  }
  for (const a of current) {
    if (a.state === 'uploaded') printLine(tty`Uploaded ${a.name} to the hub (SHA-256 ${a.sha256})`);
    else printLine(tty`Upload of ${a.name} failed: ${a.lastError ?? 'unknown reason'}`);
  }
  if (current.some((a) => a.state === 'failed')) process.exitCode = 1;
}

export function registerAgentAttachmentsCommand(agent: Command): void {
  agent
    .command('attachments')
    .description('files attached to problems, and how far their upload to the hub got')
    .requiredOption('--data <dir>', 'agent data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const { attachments } = await new AdminClient(opts.data).request<{ attachments: AttachmentRecord[] }>(
        'GET',
        '/v1/attachments',
      );
      if (opts.json) {
        printJson(attachments);
        return;
      }
      printTable(
        attachments.map((a) => ({
          attachment: a.id,
          problem: a.problemLocalId,
          name: a.name,
          size: formatBytes(a.bytes),
          sent:
            a.bytes === 0
              ? '100%'
              : `${Math.floor(((a.state === 'uploaded' ? a.bytes : a.ackedBytes) / a.bytes) * 100)}%`,
          state: a.state,
          staged: ago(new Date(a.createdAtMs).toISOString()),
          'last error': a.lastError ?? '',
        })),
        ['attachment', 'problem', 'name', 'size', 'sent', 'state', 'staged', 'last error'],
      );
    });
}
