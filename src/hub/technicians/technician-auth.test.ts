import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { LifelineError, type ErrorCode } from '../../common/errors.js';
import { createLogger } from '../../common/logger.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { HubAudit } from '../audit/index.js';
import { LoginLimiter } from './login-limiter.js';
import { hashPassword } from './passwords.js';
import { LoginRateLimited, TechnicianAuth } from './technician-auth.js';
import { newTotpSecret, totpCode } from './totp.js';

const password = 'right-password-1';

async function refusedWith(work: Promise<unknown>, code: ErrorCode): Promise<LifelineError> {
  const err = await work.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof LifelineError, String(err));
  assert.equal(err.code, code, err.message);
  return err;
}

describe('technician login', () => {
  let root: string;
  let store: HubStore;
  let clock: ManualClock;
  let auth: TechnicianAuth;
  let secret: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'lifeline-auth-'));
    store = await openSqliteHubStore(join(root, 'hub.db'));
    clock = new ManualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
    const logger = createLogger({ name: 'test', level: 'silent' });
    auth = new TechnicianAuth({
      store,
      audit: new HubAudit(store, clock, logger),
      clock,
      tokenTtlMs: 12 * 3_600_000,
      authorizedGroup: 'technicians',
      limiter: new LoginLimiter(
        // No back-off per user and address here (its growth is login-limiter.test.ts's): the
        // steps below fail in a row at one instant of the manual clock.
        {
          maxFailuresPerUser: 3,
          maxFailuresPerAddress: 100,
          windowMs: 900_000,
          backoffMs: 0,
          maxBackoffMs: 0,
        },
        clock,
      ),
    });
    const passwordHash = await hashPassword(password);
    for (const name of ['plain', 'otp-user', 'limited', 'leaver']) {
      await store.addUser({
        name,
        passwordHash,
        groups: ['technicians'],
        createdAtMs: clock.now(),
        disabledAtMs: null,
      });
    }
    secret = newTotpSecret();
    await store.userSecurity.setTotp('otp-user', secret, clock.now());
  });

  after(async () => {
    await store?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('a password user logs in with the password alone; the token records pwd', async () => {
    const login = await auth.login('plain', password, '10.0.0.1');
    assert.deepEqual(login.amr, ['pwd']);
    assert.equal(login.expiresAtMs, clock.now() + 12 * 3_600_000);
    const who = await auth.authenticateWithStrength(`Bearer ${login.token}`);
    assert.equal(who.user.name, 'plain');
    assert.deepEqual(who.amr, ['pwd']);
    await refusedWith(auth.login('plain', password, '10.0.0.1', '123456'), 'AUTH_TOTP_INVALID');
  });

  test('a TOTP user needs a valid code, once; the token records pwd and otp', async () => {
    await refusedWith(auth.login('otp-user', password, '10.0.0.2'), 'AUTH_TOTP_REQUIRED');
    const current = totpCode(secret, clock.now());
    const wrong = current === '000000' ? '000001' : '000000';
    await refusedWith(auth.login('otp-user', password, '10.0.0.2', wrong), 'AUTH_TOTP_INVALID');
    // A wrong password with the right code is a wrong password: nothing about the code is said.
    await refusedWith(auth.login('otp-user', 'wrong-password', '10.0.0.2', current), 'AUTH_INVALID');
    const login = await auth.login('otp-user', password, '10.0.0.2', current);
    assert.deepEqual(login.amr, ['pwd', 'otp']);
    assert.deepEqual((await auth.authenticateWithStrength(`Bearer ${login.token}`)).amr, ['pwd', 'otp']);
    const replay = await refusedWith(
      auth.login('otp-user', password, '10.0.0.2', current),
      'AUTH_TOTP_INVALID',
    );
    assert.match(replay.message, /used already/);
    // The previous step's code is within tolerance but older than the one used: refused too.
    await refusedWith(
      auth.login('otp-user', password, '10.0.0.2', totpCode(secret, clock.now() - 30_000)),
      'AUTH_TOTP_INVALID',
    );
    clock.advance(30_000);
    const next = await auth.login('otp-user', password, '10.0.0.2', totpCode(secret, clock.now()));
    assert.deepEqual(next.amr, ['pwd', 'otp']);
    const audit = await store.listAudit();
    const refusals = audit.filter((e) => e.action === 'login.refused' && e.actor === 'user:otp-user');
    assert.deepEqual(
      refusals.map((e) => e.detail.code),
      ['AUTH_TOTP_REQUIRED', 'AUTH_TOTP_INVALID', 'AUTH_INVALID', 'AUTH_TOTP_INVALID', 'AUTH_TOTP_INVALID'],
    );
    const text = JSON.stringify(audit);
    assert.ok(!text.includes(secret), 'the audit log never holds the TOTP secret');
    assert.ok(!text.includes(password), 'nor the password');
  });

  test('after too many failures the right password is refused from where they came, not from elsewhere', async () => {
    for (let i = 0; i < 3; i++)
      await refusedWith(auth.login('limited', 'nope-nope', '10.0.0.3'), 'AUTH_INVALID');
    const err = await refusedWith(auth.login('limited', password, '10.0.0.3'), 'AUTH_RATE_LIMITED');
    assert.ok(err instanceof LoginRateLimited);
    assert.equal(err.retryAfterMs, 900_000);
    assert.equal(
      err.message,
      'too many failed logins for user limited, some of them from 10.0.0.3: try again from there in 900 s',
    );
    const refusal = (await store.listAudit()).findLast((e) => e.action === 'login.refused');
    assert.deepEqual(refusal?.detail, {
      remote: '10.0.0.3',
      code: 'AUTH_RATE_LIMITED',
      scope: 'user',
      retryAfterMs: 900_000,
    });
    // The user, from an address without failures, gets in: the failures never lock the user out.
    assert.deepEqual((await auth.login('limited', password, '10.0.0.4')).amr, ['pwd']);
    clock.advance(900_000);
    assert.deepEqual((await auth.login('limited', password, '10.0.0.3')).amr, ['pwd']);
  });

  test('disabling a user revokes its tokens at once, without the 2 s trust of a checked login', async () => {
    const login = await auth.login('leaver', password, '10.0.0.5');
    await auth.authenticate(`Bearer ${login.token}`);
    const outcome = await store.userSecurity.disableUser('leaver', clock.now());
    assert.deepEqual(outcome, { changed: true, tokensRevoked: 1 });
    // Still trusted from the cache until the hub's user watch tells the auth to forget it.
    assert.equal((await auth.authenticate(`Bearer ${login.token}`)).name, 'leaver');
    auth.forgetUser('leaver');
    const err = await refusedWith(auth.authenticate(`Bearer ${login.token}`), 'AUTH_REQUIRED');
    assert.match(err.message, /revoked/);
    await refusedWith(auth.login('leaver', password, '10.0.0.5'), 'AUTH_INVALID');
    assert.equal(await store.userSecurity.enableUser('leaver'), true);
    await refusedWith(auth.authenticate(`Bearer ${login.token}`), 'AUTH_REQUIRED');
    assert.ok(await auth.login('leaver', password, '10.0.0.5'));
  });

  test('an expired token is refused with the time it expired', async () => {
    const login = await auth.login('plain', password, '10.0.0.6');
    clock.advance(12 * 3_600_000);
    const err = await refusedWith(auth.authenticate(`Bearer ${login.token}`), 'AUTH_REQUIRED');
    assert.match(err.message, /expired at \d{4}-\d\d-\d\dT/);
  });
});
