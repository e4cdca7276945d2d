import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessLevels, decideAccess } from './decide.js';

const attempt = { technicianId: 'alice', groups: ['technicians'], service: 'ssh', nowMs: 0 };

test('remote service off refuses whatever the level', () => {
  for (const accessLevel of accessLevels) {
    assert.deepEqual(decideAccess({ remoteEnabled: false, accessLevel }, attempt), {
      kind: 'deny',
      code: 'POLICY_REMOTE_OFF',
      reason: 'remote service is turned off on this appliance',
    });
  }
});

test('level none refuses every session', () => {
  const decision = decideAccess({ remoteEnabled: true, accessLevel: 'none' }, attempt);
  assert.equal(decision.kind, 'deny');
  assert.equal(decision.kind === 'deny' && decision.code, 'POLICY_ACCESS_NONE');
});

test('level full allows an authorized technician', () => {
  assert.deepEqual(decideAccess({ remoteEnabled: true, accessLevel: 'full' }, attempt), {
    kind: 'allow',
    via: 'full-access',
  });
});
