import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../common/config/index.js';
import { hubConfigSchema } from '../config.js';

const minimal = { stationAddress: 'hub.example.com:8443', apiUrl: 'https://hub.example.com:8444' };
const day = 86_400_000;

test('retention defaults: problem data 3d, closed problems 60d, inventory and performance 5y, every hour', () => {
  const { retention } = parseConfig(hubConfigSchema, minimal, 'hub.yaml');
  assert.deepEqual(retention, {
    problemData: 3 * day,
    closedProblems: 60 * day,
    inventory: 5 * 365 * day,
    performance: 5 * 365 * day,
    heartbeats: 5 * 365 * day,
    interval: 3_600_000,
  });
  const partial = parseConfig(
    hubConfigSchema,
    { ...minimal, retention: { closedProblems: '90d' } },
    'hub.yaml',
  );
  assert.equal(partial.retention.closedProblems, 90 * day);
  assert.equal(partial.retention.problemData, 3 * day);
});

test('a wrong retention value names the key and the expected form', () => {
  assert.throws(
    () => parseConfig(hubConfigSchema, { ...minimal, retention: { inventory: '5 years' } }, 'hub.yaml'),
    {
      code: 'CONFIG_INVALID',
      message: /retention\.inventory: expected a duration/,
    },
  );
  assert.throws(
    () => parseConfig(hubConfigSchema, { ...minimal, retention: { closed: '60d' } }, 'hub.yaml'),
    {
      message: /retention.*closed.*unknown key|unknown key.*closed/,
    },
  );
});
