// The contract of technicians: users and their groups, the tokens logins earn, TOTP enrollment,
// disabling a user.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiTokenRecord } from '../user-security.js';
import { dayMs, t0, useStore, user, type OpenHubStore } from './fixtures.js';

function token(id: string, userName: string, overrides: Partial<ApiTokenRecord> = {}): ApiTokenRecord {
  return {
    id,
    userName,
    createdAtMs: t0,
    expiresAtMs: t0 + 90 * dayMs,
    revokedAtMs: null,
    amr: ['pwd'],
    ...overrides,
  };
}

export function describeUsers(open: OpenHubStore): void {
  describe('users', () => {
    const store = useStore(open);

    test('a user reads back with its groups', async () => {
      const alice = user('alice', ['admins', 'technicians'], { disabledAtMs: t0 + 1 });
      await store().addUser(alice);
      await store().addUser(user('bob', []));
      assert.deepEqual(await store().getUser('alice'), alice);
      assert.deepEqual(await store().getUser('bob'), user('bob', []));
      assert.equal(await store().getUser('carol'), undefined);
    });

    test('groups are returned sorted', async () => {
      await store().addUser(user('alice', ['technicians', 'admins', 'auditors']));
      assert.deepEqual((await store().getUser('alice'))?.groups, ['admins', 'auditors', 'technicians']);
    });

    test('users are listed by name with their groups', async () => {
      assert.deepEqual(await store().listUsers(), []);
      await store().addUser(user('carol', ['technicians']));
      await store().addUser(user('alice', ['admins']));
      await store().addUser(user('bob', []));
      assert.deepEqual(await store().listUsers(), [
        user('alice', ['admins']),
        user('bob', []),
        user('carol', ['technicians']),
      ]);
    });

    test('a user name is added once', async () => {
      await store().addUser(user('alice', ['admins']));
      await assert.rejects(store().addUser(user('alice', ['technicians'])));
      assert.deepEqual(await store().getUser('alice'), user('alice', ['admins']));
    });

    test('a user whose groups cannot be stored is not added at all', async () => {
      await assert.rejects(store().addUser(user('alice', ['admins', 'admins'])));
      assert.equal(await store().getUser('alice'), undefined);
    });
  });

  describe('login tokens', () => {
    const store = useStore(open);
    const security = () => store().userSecurity;

    test('a token reads back as written, with how its login was checked', async () => {
      await store().addUser(user('alice', []));
      const stronger = token('tok-2', 'alice', { revokedAtMs: t0 + 5, amr: ['pwd', 'otp'] });
      await security().addToken(token('tok-1', 'alice'));
      await security().addToken(stronger);
      assert.deepEqual(await security().getToken('tok-1'), token('tok-1', 'alice'));
      assert.deepEqual(await security().getToken('tok-2'), stronger);
      assert.equal(await security().getToken('tok-3'), undefined);
    });

    test('a token for an unknown user is refused', async () => {
      await assert.rejects(security().addToken(token('tok-1', 'ghost')));
      assert.equal(await security().getToken('tok-1'), undefined);
    });

    test("disabling a user revokes the user's tokens at once; enabling keeps them revoked", async () => {
      for (const name of ['alice', 'bob']) await store().addUser(user(name, []));
      await security().addToken(token('tok-a1', 'alice'));
      await security().addToken(token('tok-a2', 'alice', { revokedAtMs: t0 + 1 }));
      await security().addToken(token('tok-b', 'bob'));
      assert.deepEqual(await security().disableUser('alice', t0 + 10), { changed: true, tokensRevoked: 1 });
      assert.deepEqual(await security().disableUser('alice', t0 + 20), { changed: false, tokensRevoked: 0 });
      assert.equal((await store().getUser('alice'))?.disabledAtMs, t0 + 10);
      assert.equal((await security().getToken('tok-a1'))?.revokedAtMs, t0 + 10);
      assert.equal(
        (await security().getToken('tok-a2'))?.revokedAtMs,
        t0 + 1,
        'revoked before: its time stays',
      );
      assert.equal((await security().getToken('tok-b'))?.revokedAtMs, null);
      assert.deepEqual(await security().disabledUserNames(), ['alice']);

      assert.equal(await security().enableUser('alice'), true);
      assert.equal(await security().enableUser('alice'), false);
      assert.equal((await store().getUser('alice'))?.disabledAtMs, null);
      assert.equal((await security().getToken('tok-a1'))?.revokedAtMs, t0 + 10);
      assert.deepEqual(await security().disabledUserNames(), []);
    });
  });

  describe('TOTP', () => {
    const store = useStore(open);
    const security = () => store().userSecurity;

    test('a secret is set, replaced, and listed by user name only', async () => {
      for (const name of ['bob', 'alice', 'carol']) await store().addUser(user(name, []));
      assert.equal(await security().getTotp('alice'), undefined);
      await security().setTotp('bob', 'SECRETBOB', t0);
      await security().setTotp('alice', 'SECRETONE', t0);
      assert.equal(await security().acceptTotpStep('alice', 7), true);
      await security().setTotp('alice', 'SECRETTWO', t0 + 1);
      assert.deepEqual(await security().getTotp('alice'), {
        userName: 'alice',
        secret: 'SECRETTWO',
        enrolledAtMs: t0 + 1,
        lastStep: null,
      });
      assert.deepEqual(await security().totpUserNames(), ['alice', 'bob']);
    });

    test('a step is accepted once, and never one before it', async () => {
      await store().addUser(user('alice', []));
      await security().setTotp('alice', 'SECRET', t0);
      assert.equal(await security().acceptTotpStep('alice', 100), true);
      assert.equal(await security().acceptTotpStep('alice', 100), false);
      assert.equal(await security().acceptTotpStep('alice', 99), false);
      assert.equal(await security().acceptTotpStep('alice', 101), true);
      assert.equal((await security().getTotp('alice'))?.lastStep, 101);
      const racing = await Promise.all(
        Array.from({ length: 5 }, () => security().acceptTotpStep('alice', 102)),
      );
      assert.equal(racing.filter(Boolean).length, 1);
      assert.equal(await security().acceptTotpStep('bob', 1), false, 'not enrolled');
    });

    test("enrolling revokes the user's logins in the same step", async () => {
      await store().addUser(user('alice', []));
      await security().addToken(token('tok-1', 'alice'));
      await security().addToken(token('tok-2', 'alice'));
      assert.equal(await security().enrollTotp('alice', 'SECRET', t0 + 5), 2);
      assert.equal((await security().getToken('tok-1'))?.revokedAtMs, t0 + 5);
      assert.equal((await security().getTotp('alice'))?.secret, 'SECRET');
      assert.equal(await security().enrollTotp('alice', 'NEWER', t0 + 6), 0);
    });

    test('a secret for an unknown user is refused', async () => {
      await assert.rejects(security().setTotp('ghost', 'SECRET', t0));
      assert.deepEqual(await security().totpUserNames(), []);
    });
  });
}
