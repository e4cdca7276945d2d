import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LifelineError } from '../errors.js';
import { StoreFullError, canWriteIn, freeBytesOf, isStoreFailure, storeFullErrorOf } from './store-full.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-store-full-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const freeSpace = /has [\d.]+ (bytes|KiB|MiB|GiB|TiB) free/;

function systemError(code: string, message = `${code}: failed`): Error {
  return Object.assign(new Error(message), { code });
}

describe('storeFullErrorOf', () => {
  test('ENOSPC and SQLITE_FULL are a full disk: STORE_FULL (507) naming the path and the free space', async () => {
    const path = join(dir, 'agent.db');
    for (const code of ['ENOSPC', 'SQLITE_FULL']) {
      const cause = systemError(code);
      const err = await storeFullErrorOf(cause, path);
      assert.ok(err instanceof StoreFullError, code);
      assert.equal(err.code, 'STORE_FULL');
      assert.equal(err.httpStatus, 507);
      assert.equal(err.reason, 'disk');
      assert.equal(err.path, path);
      assert.equal(err.dir, dir);
      assert.equal(err.cause, cause);
      assert.equal(typeof err.freeBytes, 'number');
      assert.match(err.message, new RegExp(`the disk is full: ${path} cannot be written \\(${code}\\)`));
      assert.match(err.message, freeSpace);
      assert.match(err.message, /nothing accepted before is lost/);
      assert.deepEqual(err.toJSON(), { code: 'STORE_FULL', message: err.message });
    }
  });

  test('EDQUOT is a used-up quota, which a test write tells the end of', async () => {
    const err = await storeFullErrorOf(systemError('EDQUOT'), join(dir, 'x'));
    assert.ok(err instanceof StoreFullError);
    assert.equal(err.reason, 'quota');
    assert.match(err.message, /the disk quota is used up: .* \(EDQUOT\), although .* free; raise the quota/);
    assert.ok(err.roomAgain);
    assert.equal(await err.roomAgain(), true, 'this directory takes a test write');
  });

  test('an SQLite I/O error with room left, and any other error, are not a full disk', async () => {
    assert.ok((await freeBytesOf(dir)) > 1024 * 1024, 'the test needs a temporary directory with room');
    assert.equal(await storeFullErrorOf(systemError('SQLITE_IOERR_WRITE'), join(dir, 'a.db')), undefined);
    assert.equal(await storeFullErrorOf(systemError('EACCES'), join(dir, 'a.db')), undefined);
    assert.equal(await storeFullErrorOf(new Error('no code'), join(dir, 'a.db')), undefined);
    assert.equal(await storeFullErrorOf(undefined, join(dir, 'a.db')), undefined);
  });

  test('a STORE_FULL error stays as it is', async () => {
    const first = await storeFullErrorOf(systemError('ENOSPC'), join(dir, 'f'));
    assert.ok(first);
    assert.equal(await storeFullErrorOf(first, join(dir, 'other')), first);
  });

  test('isStoreFailure: storage failures, not the refusals decided by a store', () => {
    assert.equal(isStoreFailure(new LifelineError('STORE_FULL', 'x')), true);
    assert.equal(isStoreFailure(new LifelineError('STORE_FAILED', 'x')), true);
    assert.equal(isStoreFailure(new LifelineError('TICKET_REPLAYED', 'x')), false);
    assert.equal(isStoreFailure(systemError('ENOSPC')), false);
  });
});

// A real full filesystem: a tmpfs of 1 MiB, filled up. Mounting needs root (CI runs as root).
describe('on a real full filesystem', () => {
  const mountPoint = join(dir, 'tmpfs');
  let mounted = false;
  const skip =
    process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root (the suite runs as root in CI)';

  before(async () => {
    if (skip) return;
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    mounted = true;
    // Fill it: large writes, then page-sized ones, until the kernel says ENOSPC.
    const filler = await open(join(mountPoint, 'filler'), 'w');
    try {
      for (const size of [64 * 1024, 4096, 512]) {
        for (;;) {
          try {
            await filler.write(Buffer.alloc(size, 1));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
            break;
          }
        }
      }
    } finally {
      await filler.close();
    }
  });

  after(() => {
    if (mounted) execFileSync('umount', [mountPoint]);
  });

  test('a write that fails with ENOSPC becomes STORE_FULL with 0 bytes free', { skip }, async () => {
    const path = join(mountPoint, 'staged.data');
    const failure = await writeFile(path, Buffer.alloc(64 * 1024)).then(
      () => assert.fail('the filesystem should be full'),
      (err: unknown) => err,
    );
    assert.equal((failure as NodeJS.ErrnoException).code, 'ENOSPC');
    const err = await storeFullErrorOf(failure, path);
    assert.ok(err instanceof StoreFullError);
    assert.equal(err.freeBytes, 0);
    assert.match(err.message, new RegExp(`${mountPoint} has 0 bytes free`));
  });

  test('there an SQLite I/O error is a full disk too, and a test write fails', { skip }, async () => {
    const err = await storeFullErrorOf(systemError('SQLITE_IOERR_FSYNC'), join(mountPoint, 'agent.db'));
    assert.ok(err instanceof StoreFullError);
    assert.equal(err.reason, 'disk');
    assert.equal(await canWriteIn(mountPoint), false);
  });
});
