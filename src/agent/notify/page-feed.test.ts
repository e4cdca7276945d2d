import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageTopicsOf } from './page-feed.js';

test('every audited action changes the audit log; each area also changes its own part of the page', () => {
  assert.deepEqual(pageTopicsOf('agent.start'), ['audit']);
  assert.deepEqual(pageTopicsOf('setting.remote'), ['audit', 'status', 'policy']);
  assert.deepEqual(pageTopicsOf('access-request.created'), ['audit', 'policy', 'status']);
  // A refused session may have made an access request: the pending count in the header moves.
  assert.ok(pageTopicsOf('session.refused').includes('status'));
  assert.ok(pageTopicsOf('session.refused').includes('policy'));
  assert.deepEqual(pageTopicsOf('problem.open'), ['audit', 'callhome', 'status']);
});
