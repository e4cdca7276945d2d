import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../common/config/index.js';
import { hubConfigSchema } from '../config.js';

const minimal = { stationAddress: 'hub.example.com:8443', apiUrl: 'https://hub.example.com:8444' };

test('the drain deadline defaults to 30 s and takes a duration', () => {
  assert.deepEqual(parseConfig(hubConfigSchema, minimal, 'hub.yaml').drain, { deadline: 30_000 });
  const set = parseConfig(hubConfigSchema, { ...minimal, drain: { deadline: '2m' } }, 'hub.yaml');
  assert.equal(set.drain.deadline, 120_000);
});

test('a wrong drain deadline names the key and the expected form', () => {
  for (const deadline of ['soon', '2h', 30]) {
    assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, drain: { deadline } }, 'hub.yaml'), {
      code: 'CONFIG_INVALID',
      message: /drain\.deadline/,
    });
  }
  assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, drain: { timeout: '5s' } }, 'hub.yaml'), {
    code: 'CONFIG_INVALID',
    message: /timeout/,
  });
});
