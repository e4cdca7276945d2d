import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { agentConfigSchema } from '../config.js';

const hub = { endpoints: ['127.0.0.1:8443'] };

describe('callhome control settings in agent.yaml', () => {
  test('defaults: storm window 1 h, no review, no redaction', () => {
    const config = agentConfigSchema.parse({ hub });
    assert.equal(config.callhome.stormWindow, 3_600_000);
    assert.equal(config.callhome.review, false);
    assert.equal(config.callhome.redact, undefined);
  });

  test('redact: every kind on unless switched off, with extra names', () => {
    const config = agentConfigSchema.parse({
      hub,
      callhome: { stormWindow: '2h', review: true, redact: { usernames: false, extraHostnames: ['nas'] } },
    });
    assert.equal(config.callhome.stormWindow, 7_200_000);
    assert.deepEqual(config.callhome.redact, {
      hostnames: true,
      addresses: true,
      usernames: false,
      extraHostnames: ['nas'],
      extraUsernames: [],
    });
  });

  test('a wrong value names the key and the expected form', () => {
    const result = agentConfigSchema.safeParse({
      hub,
      callhome: { review: 'yes', stormWindow: 'soon', redact: { extraUsernames: ['two words'], other: 1 } },
    });
    assert.equal(result.success, false);
    const issues = result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n') ?? '';
    assert.match(issues, /callhome\.review: .*boolean/);
    assert.match(issues, /callhome\.stormWindow: expected a duration/);
    assert.match(issues, /callhome\.redact\.extraUsernames\.0: expected a name without white space/);
    assert.match(issues, /callhome\.redact: .*other/);
  });
});
