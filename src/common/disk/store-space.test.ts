import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { pino } from 'pino';
import { ManualClock } from '../clock.js';
import { StoreFullError } from './store-full.js';
import { StoreSpace, type StoreFullCondition } from './store-space.js';

const MiB = 1024 * 1024;

/** A StoreSpace over a disk whose free space the test sets, with its log lines collected. */
function setUp(options: { freeBytes: number; checkIntervalMs?: number }) {
  const disk = { freeBytes: options.freeBytes, measures: 0 };
  type Line = { level: number; msg: string; storeFull?: boolean };
  const lines: Line[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Line) },
  );
  const clock = new ManualClock();
  const space = new StoreSpace({
    dir: '/data',
    minFreeBytes: 8 * MiB,
    minFreeSetting: 'store.minFreeMb in agent.yaml',
    clock,
    logger,
    checkIntervalMs: options.checkIntervalMs ?? 60_000,
    freeBytes: (dir) => {
      assert.equal(dir, '/data');
      disk.measures += 1;
      return Promise.resolve(disk.freeBytes);
    },
  });
  const changes: Array<StoreFullCondition | null> = [];
  space.on('change', (condition) => changes.push(condition));
  return { disk, lines, clock, space, changes };
}

/** Read through a call: a check of `space.condition` would narrow the getter's type for good. */
function conditionOf(space: StoreSpace): StoreFullCondition | null {
  return space.condition;
}

function storeFull(err: unknown): err is StoreFullError {
  return err instanceof StoreFullError && err.code === 'STORE_FULL';
}

describe('StoreSpace', () => {
  test('with room, writes that can wait go ahead and nothing is raised', async () => {
    const { space, changes, lines } = setUp({ freeBytes: 100 * MiB });
    await space.ensureRoom();
    await space.ensureRoom(50 * MiB);
    assert.equal(space.condition, null);
    assert.deepEqual(changes, []);
    assert.deepEqual(lines, []);
    space.close();
  });

  test('a measure far above the reserve stands for the next quarter of a second; one near it does not', async () => {
    const far = setUp({ freeBytes: 1024 * MiB });
    await far.space.ensureRoom();
    await far.space.ensureRoom(16 * MiB);
    assert.equal(far.disk.measures, 1);
    // A write that would take it near the reserve is measured for, whatever the last measure said.
    await far.space.ensureRoom(900 * MiB);
    assert.equal(far.disk.measures, 2);
    far.space.close();
    const near = setUp({ freeBytes: 100 * MiB });
    await near.space.ensureRoom();
    await near.space.ensureRoom();
    assert.equal(near.disk.measures, 2);
    near.space.close();
  });

  test('below the reserve: STORE_FULL naming the directory and the free space, the condition raised and logged once', async () => {
    const { space, changes, lines, clock, disk } = setUp({ freeBytes: 3 * MiB });
    const startedMs = clock.now();
    await assert.rejects(space.ensureRoom(), (err: unknown) => {
      assert.ok(storeFull(err));
      assert.equal(
        err.message,
        'the disk is full: /data has 3 MiB free, less than the 8 MiB kept free (store.minFreeMb in agent.yaml); free space there: nothing accepted before is lost, and writing resumes by itself once there is room',
      );
      return true;
    });
    const condition = space.condition;
    assert.deepEqual(condition, {
      path: '/data',
      dir: '/data',
      reason: 'disk',
      freeBytes: 3 * MiB,
      minFreeBytes: 8 * MiB,
      sinceMs: startedMs,
      message: condition?.message,
    });
    // Still full, a little less room: refused again with the space as it is now, no new event or log.
    disk.freeBytes = 1 * MiB;
    clock.advance(1000);
    await assert.rejects(
      space.ensureRoom(),
      (err: unknown) => storeFull(err) && /has 1 MiB free/.test(err.message),
    );
    assert.equal(space.condition?.freeBytes, 1 * MiB);
    assert.equal(space.condition?.sinceMs, startedMs, 'the condition keeps its start');
    assert.equal(changes.length, 1);
    assert.deepEqual(
      lines.map((l) => [l.level, l.storeFull]),
      [[40, true]],
      'one warn line when it started',
    );
    space.close();
  });

  test('the first write after space came back is taken: no wait for the periodic check', async () => {
    const { space, changes, lines, disk } = setUp({ freeBytes: 0 });
    await assert.rejects(space.ensureRoom(), storeFull);
    disk.freeBytes = 18 * MiB;
    await space.ensureRoom();
    assert.equal(space.condition, null);
    assert.equal(changes.length, 2);
    assert.equal(changes[1], null);
    assert.deepEqual(
      lines.map((l) => [l.level, l.storeFull]),
      [
        [40, true],
        [30, false],
      ],
    );
    assert.match(lines[1]?.msg ?? '', /there is room again: \/data has 18 MiB free/);
    space.close();
  });

  test('while the condition lasts, free space is measured periodically and the condition ends by itself', async () => {
    const { space, disk } = setUp({ freeBytes: 0, checkIntervalMs: 10 });
    await assert.rejects(space.ensureRoom(), storeFull);
    const measuredBefore = disk.measures;
    disk.freeBytes = 9 * MiB;
    // The check's timer does not hold a process open (a real agent has its servers for that).
    const keepAlive = setTimeout(() => assert.fail('the condition did not end by itself'), 5000);
    const [condition] = (await once(space, 'change')) as [StoreFullCondition | null];
    clearTimeout(keepAlive);
    assert.equal(condition, null);
    assert.ok(disk.measures > measuredBefore);
    // Ended: no more measuring until the next condition.
    const measuredAtEnd = disk.measures;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(disk.measures, measuredAtEnd);
    space.close();
  });

  test('a write too large for the room left is refused without raising the condition', async () => {
    const { space, changes } = setUp({ freeBytes: 20 * MiB });
    await assert.rejects(
      space.ensureRoom(16 * MiB),
      (err: unknown) =>
        storeFull(err) && /16 MiB more would leave \/data less than the 8 MiB kept free/.test(err.message),
    );
    assert.equal(space.condition, null);
    assert.deepEqual(changes, []);
    await space.ensureRoom(4 * MiB);
    space.close();
  });

  test('a write that failed for lack of room raises it; another failure passes through untouched', async () => {
    const { space, changes } = setUp({ freeBytes: 0 });
    const other = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    assert.equal(await space.failed(other, '/data/agent.run.json'), other);
    assert.equal(space.condition, null);
    const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    // The real statfs is asked for a path's own directory: this one exists everywhere.
    const err = await space.failed(enospc, '/tmp/agent.run.json');
    assert.ok(storeFull(err));
    assert.equal(err.path, '/tmp/agent.run.json');
    assert.equal(conditionOf(space)?.path, '/tmp/agent.run.json');
    assert.equal(changes.length, 1);
    space.close();
  });

  test('a quota or a size limit, which free space does not show, ends only when its own test says so', async () => {
    const { space, changes } = setUp({ freeBytes: 100 * MiB });
    let room = false;
    space.noteFull(
      new StoreFullError(
        {
          path: '/data/agent.db',
          dir: '/data',
          reason: 'size-limit',
          freeBytes: 100 * MiB,
          roomAgain: () => Promise.resolve(room),
        },
        'the database is full: /data/agent.db reached its size limit of 4 MiB',
      ),
    );
    await assert.rejects(
      space.ensureRoom(),
      (err: unknown) => storeFull(err) && /size limit/.test(err.message),
    );
    assert.equal(space.condition?.reason, 'size-limit');
    room = true;
    assert.equal(await space.check(), true);
    assert.equal(space.condition, null);
    assert.deepEqual(
      changes.map((c) => c?.reason ?? null),
      ['size-limit', null],
    );
    space.close();
  });
});
