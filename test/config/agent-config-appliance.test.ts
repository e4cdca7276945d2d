// The `appliance` section of agent.yaml: the model decides which fixes apply.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/common/config/index.js';
import { agentConfigSchema } from '../../src/agent/index.js';

const minimal = { hub: { endpoints: ['127.0.0.1:8443'] } };

test('appliance is optional; a model and serial are taken as written', () => {
  assert.equal(parseConfig(agentConfigSchema, minimal, 'agent.yaml').appliance, undefined);
  const config = parseConfig(
    agentConfigSchema,
    { ...minimal, appliance: { model: 'ProLiant DL380 Gen11', serial: 'CZ2D1F0ABC' } },
    'agent.yaml',
  );
  assert.deepEqual(config.appliance, { model: 'ProLiant DL380 Gen11', serial: 'CZ2D1F0ABC' });
});

test('a wrong appliance value names the key and the expected form', () => {
  const cases: [unknown, RegExp][] = [
    [{ appliance: { model: '../x' } }, /appliance\.model: expected a letter or digit/],
    [{ appliance: { model: '' } }, /appliance\.model: expected a letter or digit/],
    [{ appliance: { serial: 'S1' } }, /appliance\.model/],
    [{ appliance: { model: 'X100', colour: 'blue' } }, /appliance\.colour: unknown key/],
  ];
  for (const [extra, message] of cases) {
    assert.throws(() => parseConfig(agentConfigSchema, { ...minimal, ...(extra as object) }, 'agent.yaml'), {
      code: 'CONFIG_INVALID',
      message,
    });
  }
});
