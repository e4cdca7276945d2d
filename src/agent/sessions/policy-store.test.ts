import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentStore } from '../store/index.js';
import { PolicyStore, newPolicyId, type StoredGrant, type StoredRule } from './policy-store.js';

const t0 = Date.UTC(2026, 10, 25, 12);

async function withStore(work: (store: { policy: PolicyStore }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-policy-store-'));
  const store = await AgentStore.open(join(dir, 'agent.db'));
  try {
    await work({ policy: new PolicyStore(store.db) });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function rule(overrides: Partial<StoredRule> = {}): StoredRule {
  return {
    id: newPolicyId('R'),
    effect: 'allow',
    technician: 'alice',
    group: null,
    services: ['ssh'],
    notBeforeMs: null,
    notAfterMs: null,
    note: null,
    createdBy: 'admin@test',
    createdAtMs: t0,
    fromRequest: null,
    ...overrides,
  };
}

const attempt = {
  technician: 'bob',
  technicianName: 'Bob',
  groups: ['technicians'],
  service: 'ssh',
  reason: 'case 1',
  nowMs: t0,
  pendingTtlMs: 3_600_000,
};

test('rules: add, list (cached, always current), remove', async () => {
  await withStore(async (store) => {
    assert.deepEqual(await store.policy.listRules(), []);
    const first = rule();
    await store.policy.addRule(first);
    assert.deepEqual(await store.policy.listRules(), [first]);
    const second = rule({
      technician: null,
      group: 'ops',
      services: null,
      effect: 'deny',
      notAfterMs: t0 + 1000,
    });
    await store.policy.addRule(second);
    assert.deepEqual(
      new Set((await store.policy.listRules()).map((r) => r.id)),
      new Set([first.id, second.id]),
    );
    assert.deepEqual(await store.policy.removeRule(first.id), first);
    assert.deepEqual(await store.policy.listRules(), [second]);
    assert.equal(await store.policy.removeRule(first.id), undefined);
  });
});

test('access requests: one pending request per technician and service, attempts counted, polls not', async () => {
  await withStore(async (store) => {
    const first = await store.policy.recordRequestAttempt(attempt);
    assert.equal(first.created, true);
    assert.match(first.request.id, /^AR-[0-9A-Z]{6}$/);
    assert.equal(first.request.status, 'pending');
    const again = await store.policy.recordRequestAttempt({ ...attempt, nowMs: t0 + 1000, reason: 'case 2' });
    assert.equal(again.created, false);
    assert.equal(again.request.id, first.request.id);
    assert.equal(again.request.attempts, 2);
    assert.equal(again.request.reason, 'case 2');
    const poll = await store.policy.recordRequestAttempt({
      ...attempt,
      nowMs: t0 + 2000,
      countAttempt: false,
    });
    assert.equal(poll.request.attempts, 2);
    const other = await store.policy.recordRequestAttempt({ ...attempt, service: 'web' });
    assert.notEqual(other.request.id, first.request.id);
    assert.equal(await store.policy.countPending(t0 + 3000), 2);
  });
});

test('access requests: with maxPending pending, no new one is made; known ones still count attempts', async () => {
  await withStore(async (store) => {
    await store.policy.recordRequestAttempt({ ...attempt, maxPending: 2 });
    await store.policy.recordRequestAttempt({ ...attempt, service: 'web', maxPending: 2 });
    const full = await store.policy.recordRequestAttempt({ ...attempt, service: 'db', maxPending: 2 });
    assert.deepEqual(full, { request: undefined, pending: 2 });
    const known = await store.policy.recordRequestAttempt({ ...attempt, nowMs: t0 + 1, maxPending: 2 });
    assert.equal(
      known.request?.attempts,
      2,
      'a pending request of the same technician and service is updated',
    );
    assert.equal(await store.policy.countPending(t0 + 2), 2);
    // Once one expires there is room again.
    const later = await store.policy.recordRequestAttempt({
      ...attempt,
      service: 'db',
      nowMs: t0 + attempt.pendingTtlMs,
      maxPending: 2,
    });
    assert.equal(later.request !== undefined && later.created, true);
  });
});

test('access requests expire; a new attempt then makes a new one', async () => {
  await withStore(async (store) => {
    const first = await store.policy.recordRequestAttempt(attempt);
    const later = t0 + attempt.pendingTtlMs;
    assert.equal((await store.policy.getRequest(first.request.id, later))?.status, 'expired');
    assert.equal(await store.policy.countPending(later), 0);
    const next = await store.policy.recordRequestAttempt({ ...attempt, nowMs: later + 1 });
    assert.equal(next.created, true);
    assert.notEqual(next.request.id, first.request.id);
  });
});

test('accepting a request creates its rule in the same transaction; a decided request stays decided', async () => {
  await withStore(async (store) => {
    const { request } = await store.policy.recordRequestAttempt(attempt);
    const accepted = rule({ technician: 'bob', fromRequest: request.id });
    assert.equal(await store.policy.acceptRequest(request.id, accepted, 'admin@test', t0 + 10), true);
    assert.deepEqual(await store.policy.listRules(), [accepted]);
    const after = await store.policy.getRequest(request.id, t0 + 20);
    assert.equal(after?.status, 'accepted');
    assert.equal(after?.ruleId, accepted.id);
    assert.equal(await store.policy.acceptRequest(request.id, rule(), 'admin@test', t0 + 30), false);
    assert.equal(await store.policy.rejectRequest(request.id, 'admin@test', null, t0 + 30, t0 + 40), false);
    assert.equal((await store.policy.listRules()).length, 1);
  });
});

test('a rejection holds: attempts are counted on the rejected request, no new request, until the hold ends', async () => {
  await withStore(async (store) => {
    const { request } = await store.policy.recordRequestAttempt(attempt);
    assert.equal(
      await store.policy.rejectRequest(request.id, 'admin@test', 'no', t0 + 10, t0 + 60_000),
      true,
    );
    const during = await store.policy.recordRequestAttempt({ ...attempt, nowMs: t0 + 30_000 });
    assert.equal(during.created, false);
    assert.equal(during.request.status, 'rejected');
    assert.equal(during.request.note, 'no');
    const after = await store.policy.recordRequestAttempt({ ...attempt, nowMs: t0 + 60_001 });
    assert.equal(after.created, true);
    assert.equal(after.request.status, 'pending');
  });
});

test('one-time grants: used once, a new one replaces an unused one', async () => {
  await withStore(async (store) => {
    const grant = (id: string): StoredGrant => ({
      id,
      technician: null,
      services: null,
      notAfterMs: t0 + 60_000,
      usedAtMs: null,
      createdBy: 'admin@test',
      createdAtMs: t0,
      usedBySession: null,
    });
    await store.policy.setGrant(grant('G-AAAAAA'));
    assert.equal((await store.policy.currentGrant())?.id, 'G-AAAAAA');
    await store.policy.setGrant(grant('G-BBBBBB'));
    assert.equal((await store.policy.currentGrant())?.id, 'G-BBBBBB');
    assert.equal(await store.policy.useGrant('G-AAAAAA', 'a'.repeat(32), t0 + 1), false, 'replaced grant');
    const uses = await Promise.all([
      store.policy.useGrant('G-BBBBBB', 'b'.repeat(32), t0 + 1),
      store.policy.useGrant('G-BBBBBB', 'c'.repeat(32), t0 + 1),
    ]);
    assert.deepEqual(uses.sort(), [false, true]);
    const current = await store.policy.currentGrant();
    assert.equal(current?.usedAtMs, t0 + 1);
    await store.policy.setGrant({ ...grant('G-CCCCCC'), notAfterMs: t0 + 10 });
    assert.equal(await store.policy.useGrant('G-CCCCCC', 'd'.repeat(32), t0 + 10), false, 'expired grant');
  });
});

test('refusals are counted per technician', async () => {
  await withStore(async (store) => {
    await store.policy.countRefusal('bob', 'POLICY_ACCESS_NONE', t0);
    await store.policy.countRefusal('bob', 'POLICY_PENDING_APPROVAL', t0 + 5);
    await store.policy.countRefusal('eve', 'TICKET_REPLAYED', t0 + 6);
    assert.deepEqual(await store.policy.listRefusals(), [
      { technician: 'bob', count: 2, lastAtMs: t0 + 5, lastCode: 'POLICY_PENDING_APPROVAL' },
      { technician: 'eve', count: 1, lastAtMs: t0 + 6, lastCode: 'TICKET_REPLAYED' },
    ]);
  });
});
