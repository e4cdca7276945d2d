// The contract of the fix catalog.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LifelineError } from '../../../common/errors.js';
import type { FixRecord } from '../fixes.js';
import { t0, useStore, type OpenHubStore } from './fixtures.js';

function fix(name: string, version: string, appliesTo: string[], publishedAtMs = t0): FixRecord {
  return {
    name,
    version,
    fileName: `${name}-${version}.bin`,
    path: `fixes/${name}/${version}/0123456789abcdef/${name}-${version}.bin`,
    // Over 32 bits, as a firmware image may be.
    size: 5_000_000_000,
    sha256: 'c'.repeat(64),
    appliesTo,
    description: null,
    publishedAtMs,
    statement: `header.${name}.${version}.signature`,
  };
}

export function describeFixes(open: OpenHubStore): void {
  describe('fixes', () => {
    const store = useStore(open);
    const fixes = () => store().fixes;

    test('a fix is stored as given and read back by name and version', async () => {
      const record = { ...fix('bmc-fw', '2.1.0', ['X100', 'X200']), description: 'BMC firmware' };
      await fixes().add(record);
      assert.deepEqual(await fixes().get('bmc-fw', '2.1.0'), record);
      assert.equal(await fixes().get('bmc-fw', '2.1.1'), undefined);
      assert.equal(await fixes().get('bmc', '2.1.0'), undefined);
    });

    test('the same name and version is refused a second time, and the first stays', async () => {
      await fixes().add(fix('bios', '1.0', ['X100']));
      await assert.rejects(
        fixes().add({ ...fix('bios', '1.0', []), sha256: 'd'.repeat(64) }),
        (err: unknown) => err instanceof LifelineError && err.code === 'CALLHOME_FIX_EXISTS',
      );
      assert.equal((await fixes().get('bios', '1.0'))?.sha256, 'c'.repeat(64));
      await fixes().add(fix('bios', '1.1', ['X100']));
      assert.equal((await fixes().list()).length, 2);
    });

    test('listing by model gives the fixes for that model and those for every model, newest first', async () => {
      await fixes().add(fix('a', '1', ['X100'], t0));
      await fixes().add(fix('b', '1', ['Y200'], t0 + 1));
      await fixes().add(fix('c', '1', [], t0 + 2));
      await fixes().add(fix('d', '1', ['Y200', 'X100'], t0 + 3));
      const names = async (model?: string) => (await fixes().list({ model })).map((f) => f.name);
      assert.deepEqual(await names('X100'), ['d', 'c', 'a']);
      assert.deepEqual(await names('Y200'), ['d', 'c', 'b']);
      assert.deepEqual(await names('Z1'), ['c']);
      assert.deepEqual(await names(), ['d', 'c', 'b', 'a']);
      // Models are matched exactly: no prefixes, no case folding.
      assert.deepEqual(await names('X10'), ['c']);
      assert.deepEqual(await names('x100'), ['c']);
    });

    test('fixes published at the same time are listed by name, then version', async () => {
      for (const [name, version] of [
        ['b', '2'],
        ['a', '1'],
        ['b', '1'],
      ] as const)
        await fixes().add(fix(name, version, []));
      assert.deepEqual(
        (await fixes().list()).map((f) => `${f.name} ${f.version}`),
        ['a 1', 'b 1', 'b 2'],
      );
    });
  });
}
