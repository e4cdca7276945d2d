// Boundaries of ACL rules and one-time grants: validity windows, who and which services they cover.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  grantMatches,
  ruleIsActive,
  ruleMatches,
  type AclRule,
  type OneTimeGrant,
  type Subject,
} from './acl.js';

function rule(fields: Partial<AclRule> = {}): AclRule {
  return {
    id: 'R-1',
    effect: 'allow',
    technician: 'alice',
    group: null,
    services: null,
    notBeforeMs: null,
    notAfterMs: null,
    ...fields,
  };
}

function grant(fields: Partial<OneTimeGrant> = {}): OneTimeGrant {
  return { id: 'G-1', technician: null, services: null, notAfterMs: 2000, usedAtMs: null, ...fields };
}

function subject(fields: Partial<Subject> = {}): Subject {
  return { technicianId: 'alice', groups: ['support'], service: 'ssh', nowMs: 1000, ...fields };
}

describe('ruleIsActive', () => {
  test('a rule without a window is active at any time', () => {
    for (const nowMs of [0, 1, 1_700_000_000_000, Number.MAX_SAFE_INTEGER]) {
      assert.equal(ruleIsActive(rule(), nowMs), true, String(nowMs));
    }
  });

  test('notBefore is inclusive', () => {
    const r = rule({ notBeforeMs: 1000 });
    assert.equal(ruleIsActive(r, 999), false);
    assert.equal(ruleIsActive(r, 1000), true);
    assert.equal(ruleIsActive(r, 1001), true);
  });

  test('notAfter is exclusive', () => {
    const r = rule({ notAfterMs: 2000 });
    assert.equal(ruleIsActive(r, 1999), true);
    assert.equal(ruleIsActive(r, 2000), false);
    assert.equal(ruleIsActive(r, 2001), false);
  });

  test('a window is [notBefore, notAfter); an empty or inverted one is never active', () => {
    const r = rule({ notBeforeMs: 1000, notAfterMs: 2000 });
    assert.deepEqual(
      [999, 1000, 1999, 2000].map((t) => ruleIsActive(r, t)),
      [false, true, true, false],
    );
    for (const t of [999, 1000, 1001]) {
      assert.equal(ruleIsActive(rule({ notBeforeMs: 1000, notAfterMs: 1000 }), t), false, `empty at ${t}`);
      assert.equal(ruleIsActive(rule({ notBeforeMs: 1001, notAfterMs: 1000 }), t), false, `inverted at ${t}`);
    }
  });

  test('a window starting at 0 is a window, not "no window"', () => {
    assert.equal(ruleIsActive(rule({ notAfterMs: 0 }), 0), false);
    assert.equal(ruleIsActive(rule({ notBeforeMs: 0 }), 0), true);
  });
});

describe('ruleMatches', () => {
  test('by technician: exact and case-sensitive', () => {
    assert.equal(ruleMatches(rule({ technician: 'alice' }), subject()), true);
    for (const other of ['Alice', 'ALICE', 'alice ', ' alice', 'ali', 'alice2', '']) {
      assert.equal(ruleMatches(rule({ technician: other }), subject()), false, JSON.stringify(other));
    }
    assert.equal(ruleMatches(rule({ technician: 'alice' }), subject({ technicianId: 'Alice' })), false);
  });

  test('a technician rule does not match a group of the same name', () => {
    assert.equal(ruleMatches(rule({ technician: 'support' }), subject({ groups: ['support'] })), false);
  });

  test('by group: any of the subject groups, exact and case-sensitive', () => {
    const r = rule({ technician: null, group: 'support' });
    assert.equal(ruleMatches(r, subject({ groups: ['support'] })), true);
    assert.equal(ruleMatches(r, subject({ groups: ['ops', 'support'] })), true);
    assert.equal(ruleMatches(r, subject({ technicianId: 'bob', groups: ['support'] })), true);
    assert.equal(ruleMatches(r, subject({ groups: [] })), false);
    assert.equal(ruleMatches(r, subject({ groups: ['Support'] })), false);
    assert.equal(ruleMatches(r, subject({ groups: ['support-2'] })), false);
  });

  test('a group rule does not match a technician of the same name', () => {
    const r = rule({ technician: null, group: 'alice' });
    assert.equal(ruleMatches(r, subject({ technicianId: 'alice', groups: [] })), false);
  });

  test('a rule naming neither technician nor group matches nobody', () => {
    assert.equal(ruleMatches(rule({ technician: null, group: null }), subject()), false);
  });

  test('services null covers every service; a list covers exactly its names', () => {
    for (const service of ['ssh', 'https', 'vnc']) {
      assert.equal(ruleMatches(rule({ services: null }), subject({ service })), true, service);
    }
    const r = rule({ services: ['ssh', 'https'] });
    assert.equal(ruleMatches(r, subject({ service: 'ssh' })), true);
    assert.equal(ruleMatches(r, subject({ service: 'https' })), true);
    assert.equal(ruleMatches(r, subject({ service: 'vnc' })), false);
    assert.equal(ruleMatches(r, subject({ service: 'SSH' })), false);
    assert.equal(ruleMatches(rule({ services: [] }), subject()), false);
  });

  test('only while active, with the same boundaries as ruleIsActive', () => {
    const r = rule({ notBeforeMs: 1000, notAfterMs: 2000 });
    assert.equal(ruleMatches(r, subject({ nowMs: 999 })), false);
    assert.equal(ruleMatches(r, subject({ nowMs: 1000 })), true);
    assert.equal(ruleMatches(r, subject({ nowMs: 1999 })), true);
    assert.equal(ruleMatches(r, subject({ nowMs: 2000 })), false);
  });

  test('the effect plays no part in matching', () => {
    assert.equal(ruleMatches(rule({ effect: 'deny' }), subject()), true);
    assert.equal(ruleMatches(rule({ effect: 'deny', technician: 'bob' }), subject()), false);
  });
});

describe('grantMatches', () => {
  test('notAfter is exclusive; a grant has no start', () => {
    const g = grant({ notAfterMs: 2000 });
    assert.equal(grantMatches(g, subject({ nowMs: 0 })), true);
    assert.equal(grantMatches(g, subject({ nowMs: 1999 })), true);
    assert.equal(grantMatches(g, subject({ nowMs: 2000 })), false);
    assert.equal(grantMatches(g, subject({ nowMs: 2001 })), false);
  });

  test('a used grant matches nobody, even if used at time 0', () => {
    assert.equal(grantMatches(grant({ usedAtMs: 500 }), subject()), false);
    assert.equal(grantMatches(grant({ usedAtMs: 0 }), subject()), false);
  });

  test('technician null is anyone; otherwise exact and case-sensitive', () => {
    assert.equal(grantMatches(grant({ technician: null }), subject({ technicianId: 'bob' })), true);
    assert.equal(grantMatches(grant({ technician: 'alice' }), subject()), true);
    assert.equal(grantMatches(grant({ technician: 'alice' }), subject({ technicianId: 'Alice' })), false);
    assert.equal(grantMatches(grant({ technician: 'bob' }), subject()), false);
  });

  test('groups play no part in a grant', () => {
    assert.equal(grantMatches(grant({ technician: 'support' }), subject({ groups: ['support'] })), false);
    assert.equal(grantMatches(grant(), subject({ groups: [] })), true);
  });

  test('services null covers every service; a list covers exactly its names', () => {
    assert.equal(grantMatches(grant({ services: null }), subject({ service: 'vnc' })), true);
    assert.equal(grantMatches(grant({ services: ['ssh'] }), subject({ service: 'ssh' })), true);
    assert.equal(grantMatches(grant({ services: ['ssh'] }), subject({ service: 'https' })), false);
    assert.equal(grantMatches(grant({ services: [] }), subject()), false);
  });
});
