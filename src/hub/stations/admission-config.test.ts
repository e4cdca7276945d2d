import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../common/config/index.js';
import { hubConfigSchema } from '../config.js';

const minimal = { stationAddress: 'hub.example.com:8443', apiUrl: 'https://hub.example.com:8444' };

test('admission defaults to 50 new tunnels per second', () => {
  assert.deepEqual(parseConfig(hubConfigSchema, minimal, 'hub.yaml').admission, { tunnelsPerSecond: 50 });
  const set = parseConfig(hubConfigSchema, { ...minimal, admission: { tunnelsPerSecond: 200 } }, 'hub.yaml');
  assert.equal(set.admission.tunnelsPerSecond, 200);
});

test('a wrong admission rate names the key and the expected form', () => {
  for (const tunnelsPerSecond of [0, 2.5, '50', 1_000_000]) {
    assert.throws(
      () => parseConfig(hubConfigSchema, { ...minimal, admission: { tunnelsPerSecond } }, 'hub.yaml'),
      {
        code: 'CONFIG_INVALID',
        message: /admission\.tunnelsPerSecond: expected a whole number of tunnels per second/,
      },
    );
  }
  assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, admission: { rate: 5 } }, 'hub.yaml'), {
    code: 'CONFIG_INVALID',
    message: /rate/,
  });
});
