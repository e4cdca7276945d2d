// Publishing a fix: copy the file under the hub's data directory, hashing the bytes as they are
// written, sign the statement that names its size and SHA-256, and record it in the catalog.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { formatBytes } from '../../common/bytes.js';
import { StoreFullError, freeBytesOf, storeFullErrorOf } from '../../common/disk/index.js';
import type { FixSigner } from '../../pki/index.js';
import {
  applianceModelSchema,
  fixFilePattern,
  fixNameSchema,
  fixVersionSchema,
  type FixStatement,
} from '../../protocol/index.js';
import type { FixRecord } from '../store/index.js';
import type { HubStore } from '../store/index.js';

export interface PublishFixOptions {
  dataDir: string;
  fixesDir: string;
  file: string;
  name: string;
  version: string;
  appliesTo: string[];
  description?: string | undefined;
  store: HubStore;
  signer: FixSigner;
  clock: Clock;
  actor: string;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new LifelineError(
    'API_BAD_REQUEST',
    `${what}: ${result.error.issues[0]?.message ?? 'invalid'}, got ${JSON.stringify(value)}`,
  );
}

export async function publishFix(options: PublishFixOptions): Promise<FixRecord> {
  const { store, clock } = options;
  const name = check(fixNameSchema, options.name, '--name');
  const version = check(fixVersionSchema, options.version, '--version');
  const appliesTo = [
    ...new Set(options.appliesTo.map((m) => check(applianceModelSchema, m, '--applies-to'))),
  ];
  if (options.description !== undefined && options.description.length > 2000)
    throw new LifelineError('API_BAD_REQUEST', '--description: expected at most 2000 characters');
  const fileName = basename(options.file);
  if (!fixFilePattern.test(fileName)) {
    throw new LifelineError(
      'API_BAD_REQUEST',
      `${options.file}: the file name must be a letter or digit, then up to 127 letters, digits, . _ + or - (it becomes the name on the appliance)`,
    );
  }
  let totalBytes: number;
  try {
    const stat = statSync(options.file);
    if (!stat.isFile()) throw new Error('not a regular file');
    totalBytes = stat.size;
  } catch (err) {
    throw new LifelineError('API_BAD_REQUEST', `cannot read ${options.file}: ${(err as Error).message}`);
  }
  if (await store.fixes.get(name, version))
    throw new LifelineError('CALLHOME_FIX_EXISTS', `fix ${name} ${version} is published already`);

  const dir = join(options.fixesDir, name, version);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const freeBytes = await freeBytesOf(dir).catch(() => null);
  if (freeBytes !== null && freeBytes < totalBytes) {
    throw new StoreFullError(
      { path: dir, dir, reason: 'disk', freeBytes },
      `the disk is full: ${options.file} holds ${formatBytes(totalBytes)} and ${dir} has ${formatBytes(freeBytes)} free; free space there and publish again`,
    );
  }
  const temp = join(dir, `.${fileName}.${process.pid}.part`);
  const hash = createHash('sha256');
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      options.onProgress?.(size, totalBytes);
      done(null, chunk);
    },
  });
  try {
    // The size and hash are of the bytes written here, not of a second read of the source.
    await pipeline(
      createReadStream(options.file),
      measure,
      createWriteStream(temp, { mode: 0o600, flush: true }),
    );
  } catch (err) {
    rmSync(temp, { force: true });
    // Out of room while copying: STORE_FULL naming the directory and what is left, not a bug.
    const full = await storeFullErrorOf(err, temp, dir);
    if (full) throw full;
    throw new LifelineError('INTERNAL', `copying ${options.file} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const sha256 = hash.digest('hex');
  // A directory per content: two racing publishes of one name and version never write one path.
  const target = join(dir, sha256.slice(0, 16), fileName);
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  renameSync(temp, target);
  const publishedAtMs = clock.now();
  const statement: FixStatement = {
    name,
    version,
    file: fileName,
    appliesTo,
    size,
    sha256,
    publishedAt: new Date(publishedAtMs).toISOString(),
    ...(options.description ? { description: options.description } : {}),
  };
  const record: FixRecord = {
    name,
    version,
    fileName,
    path: relative(options.dataDir, target),
    size,
    sha256: statement.sha256,
    appliesTo,
    description: options.description ?? null,
    publishedAtMs,
    statement: await options.signer.sign(statement),
  };
  try {
    await store.fixes.add(record);
  } catch (err) {
    // Lost a race with another publish of the same name and version: keep the winner's file.
    const winner = await store.fixes.get(name, version);
    if (winner?.path !== record.path) rmSync(target, { force: true });
    throw err;
  }
  await store.appendAudit({
    atMs: publishedAtMs,
    actor: options.actor,
    action: 'fix.published',
    stationId: null,
    detail: { name, version, file: fileName, size, sha256: statement.sha256, appliesTo },
  });
  return record;
}
