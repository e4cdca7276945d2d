// Fixes on the appliance: the catalog as the hub signed it (each statement verified with the key
// pinned at enrollment, kept only if it is for this appliance's model), and downloads that resume
// from a .part file and are renamed into place only once size and SHA-256 match the statement.

import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { answerError } from '../../common/net/index.js';
import { LifelineError } from '../../common/errors.js';
import { privateDirectoryMode, privateFileMode } from '../../common/disk/index.js';
import { FixVerifier } from '../../pki/index.js';
import {
  contentRangeStart,
  fixAppliesTo,
  fixCatalogSchema,
  type FixStatement,
} from '../../protocol/index.js';
import { CallHomeClient } from '../link/index.js';
import { hubDialerFromDataDir, isLinkFailure } from '../link/index.js';
import { agentPaths, loadAgentConfig } from '../config.js';

export interface FixContext {
  client: CallHomeClient;
  verifier: FixVerifier;
  /** This appliance's model from agent.yaml; without it only fixes for every model apply. */
  model: string | undefined;
}

/** What a command needs to reach the hub's catalog, from the agent's data directory. */
export function openFixContext(dataDir: string): FixContext {
  const config = loadAgentConfig(dataDir);
  const paths = agentPaths(dataDir);
  let fixKeyPem: string;
  try {
    fixKeyPem = readFileSync(paths.hubFixKey, 'utf8');
  } catch {
    throw new LifelineError(
      'CALLHOME_FIX_KEY_MISSING',
      `${paths.hubFixKey} is missing: this appliance was enrolled before the hub signed fixes, so it has no pinned key to check them with. Enroll it again (lifeline agent enroll with a new token) to pin the hub's fix key`,
    );
  }
  return {
    client: new CallHomeClient({ dialer: hubDialerFromDataDir(dataDir), timeoutMs: 30_000 }),
    verifier: new FixVerifier(fixKeyPem),
    model: config.appliance?.model,
  };
}

/**
 * The fixes for this appliance, newest first, each verified. Statements that do not verify are
 * counted, never shown as fixes; the model filter of the hub is checked again on the signed list.
 */
export async function fetchCatalog(
  context: FixContext,
): Promise<{ fixes: FixStatement[]; unverified: number }> {
  const query = context.model === undefined ? '' : `?model=${encodeURIComponent(context.model)}`;
  const answer = fixCatalogSchema.safeParse(
    await context.client.request<unknown>('GET', `/v1/fixes${query}`),
  );
  if (!answer.success)
    throw new LifelineError('CALLHOME_FIX_UNVERIFIED', 'the hub answered a malformed fix catalog');
  const fixes: FixStatement[] = [];
  let unverified = 0;
  for (const entry of answer.data.fixes) {
    try {
      const statement = await context.verifier.verify(entry.statement);
      if (fixAppliesTo(statement, context.model)) fixes.push(statement);
    } catch {
      unverified += 1;
    }
  }
  fixes.sort((a, b) => b.publishedAt.localeCompare(a.publishedAt));
  return { fixes, unverified };
}

/** The fix of that name (the newest unless `version` is given) among those for this appliance. */
export function chooseFix(
  fixes: FixStatement[],
  name: string,
  version: string | undefined,
  model: string | undefined,
): FixStatement {
  const found = fixes.find((f) => f.name === name && (version === undefined || f.version === version));
  if (found) return found;
  const what = version === undefined ? `fix ${name}` : `fix ${name} ${version}`;
  throw new LifelineError(
    'CALLHOME_FIX_NOT_FOUND',
    `no ${what} applies to this appliance (${model === undefined ? 'no appliance.model in agent.yaml, so only fixes for every model' : `model ${model}`})`,
  );
}

export interface DownloadResult {
  path: string;
  /** Bytes already in the .part file that were not fetched again. */
  resumedFromBytes: number;
  /** The file was in place already, verified. */
  alreadyPresent: boolean;
}

function unverified(part: string, message: string): LifelineError {
  rmSync(part, { force: true });
  return new LifelineError(
    'CALLHOME_FIX_UNVERIFIED',
    `${message}: the fix is refused and the partial download deleted`,
  );
}

async function hashFile(
  path: string,
  endExclusive?: number,
): Promise<{ hash: ReturnType<typeof createHash>; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  if (endExclusive === 0) return { hash, size };
  for await (const chunk of createReadStream(
    path,
    endExclusive === undefined ? {} : { end: endExclusive - 1 },
  )) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hash, size };
}

/** The hub's error answer to a download, as its code and message. */
async function hubError(status: number, body: AsyncIterable<unknown>): Promise<LifelineError> {
  let text = '';
  for await (const chunk of body) {
    text += String(chunk);
    if (text.length > 4096) break;
  }
  return answerError(status, text, 'the hub');
}

/**
 * Downloads `fix` (a verified statement) into `outDir`. Resumes from `<file>.part` with a Range
 * request; a transfer cut short keeps the .part (API_UNREACHABLE) for the next attempt; a file
 * whose size or SHA-256 differs from the statement is deleted (CALLHOME_FIX_UNVERIFIED).
 */
export async function downloadFix(options: {
  client: CallHomeClient;
  fix: FixStatement;
  outDir: string;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}): Promise<DownloadResult> {
  const { fix, client } = options;
  // A directory made here is 0700; one the administrator named keeps its mode.
  mkdirSync(options.outDir, { recursive: true, mode: privateDirectoryMode });
  const target = join(options.outDir, fix.file);
  const part = `${target}.part`;
  if (existsSync(target)) {
    const present = await hashFile(target);
    if (present.size === fix.size && present.hash.digest('hex') === fix.sha256)
      return { path: target, resumedFromBytes: 0, alreadyPresent: true };
    throw new LifelineError(
      'CONFIG_EXISTS',
      `${target} exists and is not fix ${fix.name} ${fix.version}: move it away first`,
    );
  }
  let offset = existsSync(part) ? statSync(part).size : 0;
  if (offset > fix.size) {
    rmSync(part);
    offset = 0;
  }
  let { hash } = await hashFile(part, offset);
  let done = offset;
  if (offset < fix.size) {
    const path = `/v1/fixes/${encodeURIComponent(fix.name)}/${encodeURIComponent(fix.version)}/file`;
    let answer: Awaited<ReturnType<CallHomeClient['getStream']>>;
    try {
      answer = await client.getStream(path, offset > 0 ? { range: `bytes=${offset}-` } : {});
    } catch (err) {
      throw new LifelineError(
        isLinkFailure(err) ? err.code : 'API_UNREACHABLE',
        `cannot reach the hub for the fix: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const { status, headers, body } = answer;
    let hubSize: number;
    if (status === 206 && offset > 0) {
      if (contentRangeStart(headers['content-range']) !== offset) {
        body.destroy();
        throw new LifelineError(
          'INTERNAL',
          `the hub answered another range than bytes ${offset}- (${String(headers['content-range'])})`,
        );
      }
      hubSize = Number(/\/(\d+)$/.exec(String(headers['content-range']))?.[1] ?? NaN);
    } else if (status === 200) {
      // The whole file after all: start over.
      offset = 0;
      done = 0;
      hash = createHash('sha256');
      hubSize = Number(headers['content-length'] ?? NaN);
    } else if (status === 416) {
      body.destroy();
      throw unverified(
        part,
        `the hub's file of fix ${fix.name} ${fix.version} is shorter than the signed size (${fix.size} bytes)`,
      );
    } else {
      throw await hubError(status, body);
    }
    if (Number.isFinite(hubSize) && hubSize !== fix.size) {
      body.destroy();
      throw unverified(
        part,
        `the hub's file of fix ${fix.name} ${fix.version} is ${hubSize} bytes, the signed statement says ${fix.size}`,
      );
    }
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        done += chunk.length;
        if (done > fix.size) {
          callback(
            new LifelineError(
              'CALLHOME_FIX_UNVERIFIED',
              `the hub sent more than the signed ${fix.size} bytes`,
            ),
          );
          return;
        }
        hash.update(chunk);
        options.onProgress?.(done, fix.size);
        callback(null, chunk);
      },
    });
    const file = createWriteStream(part, {
      flags: offset > 0 ? 'a' : 'w',
      mode: privateFileMode,
      flush: true,
    });
    let failure: unknown;
    try {
      await pipeline(body, measure, file);
    } catch (err) {
      failure = err;
    } finally {
      // A failed pipeline destroys the file stream, but a write under way still lands: wait for
      // it, so the .part is settled (and its size true) when this returns.
      if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
    }
    if (failure instanceof LifelineError && failure.code === 'CALLHOME_FIX_UNVERIFIED')
      throw unverified(part, failure.message);
    if (failure !== undefined || done < fix.size) {
      // Cut short: what arrived stays in the .part for the next attempt.
      const kept = existsSync(part) ? statSync(part).size : 0;
      throw new LifelineError(
        'API_UNREACHABLE',
        `the download of fix ${fix.name} ${fix.version} was interrupted at ${kept} of ${fix.size} bytes; run the command again to resume`,
        { cause: failure },
      );
    }
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== fix.sha256) {
    throw unverified(
      part,
      `the SHA-256 of the downloaded file (${sha256}) differs from the signed statement's (${fix.sha256})`,
    );
  }
  renameSync(part, target);
  return { path: target, resumedFromBytes: offset, alreadyPresent: false };
}
