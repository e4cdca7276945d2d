// `lifeline hub user add|list|totp|disable|enable`: technician accounts, written to the hub's store
// directly. A running hub ends a disabled user's sessions within a second (hub/user-watch.ts).

import type { Command } from 'commander';
import { LifelineError } from '../../common/errors.js';
import { hashPassword, newTotpSecret, totpUri } from '../../hub/index.js';
import type { HubStore } from '../../hub/store/index.js';
import { withStore } from './hub.js';
import { printJson, printLine, printTable, readStdin, tty } from '../io.js';

const dataOption = ['--data <dir>', 'hub data directory'] as const;

function checkUserName(name: string): void {
  if (!/^[A-Za-z0-9._@-]{1,128}$/.test(name)) {
    throw new LifelineError(
      'API_BAD_REQUEST',
      'user name: expected letters, digits, . _ @ or - (at most 128)',
    );
  }
}

async function requireUser(store: HubStore, name: string): Promise<void> {
  if (!(await store.getUser(name))) throw new LifelineError('API_NOT_FOUND', `no user ${name} on this hub`);
}

async function audit(store: HubStore, action: string, detail: Record<string, unknown>): Promise<void> {
  await store.appendAudit({ atMs: Date.now(), actor: 'operator@cli', action, stationId: null, detail });
}

/** The otpauth URI is printed once, here; the secret is kept only in the hub's store. */
function printTotpEnrollment(name: string, secret: string): void {
  printLine(tty`TOTP enrolled for ${name}. Add it to an authenticator app (this is shown only once):`);
  printLine(tty`${totpUri(name, secret)}`);
  printLine(
    tty`${name} now logs in with: lifeline login --hub URL --user ${name} --password-stdin --totp CODE`,
  );
}

export function registerHubUserCommands(hub: Command): void {
  const user = hub.command('user').description('technician accounts');
  user
    .command('add <name>')
    .description('add a user; the password is read from standard input')
    .requiredOption(...dataOption)
    .option('--group <group...>', 'groups of the user (the authorized group may open sessions)', [
      'technicians',
    ])
    .requiredOption('--password-stdin', 'read the password from standard input')
    .option('--totp', 'enroll TOTP: the user logs in with a code too; prints the otpauth:// URI once')
    .action(async (name: string, opts: { data: string; group: string[]; totp?: boolean }) => {
      checkUserName(name);
      const password = await readStdin('password');
      if (password.length < 8)
        throw new LifelineError('API_BAD_REQUEST', 'password: expected at least 8 characters');
      const passwordHash = await hashPassword(password);
      const secret = opts.totp ? newTotpSecret() : undefined;
      await withStore(opts.data, async (store) => {
        if (await store.getUser(name)) throw new LifelineError('AUTH_USER_EXISTS', `user ${name} exists`);
        const nowMs = Date.now();
        await store.addUser({
          name,
          passwordHash,
          groups: opts.group,
          createdAtMs: nowMs,
          disabledAtMs: null,
        });
        if (secret !== undefined) await store.userSecurity.setTotp(name, secret, nowMs);
        await audit(store, 'user.add', { user: name, groups: opts.group, totp: secret !== undefined });
      });
      printLine(tty`User ${name} added (groups: ${opts.group.join(', ')})`);
      if (secret !== undefined) printTotpEnrollment(name, secret);
    });

  user
    .command('list')
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const [users, totpUsers] = await withStore(opts.data, (store) =>
        Promise.all([store.listUsers(), store.userSecurity.totpUserNames()]),
      );
      const enrolled = new Set(totpUsers);
      const rows = users.map((u) => ({
        name: u.name,
        groups: u.groups.join(','),
        disabled: u.disabledAtMs ? 'yes' : 'no',
        totp: enrolled.has(u.name) ? 'yes' : 'no',
      }));
      if (opts.json) printJson(rows);
      else printTable(rows, ['name', 'groups', 'disabled', 'totp']);
    });

  user
    .command('totp <name>')
    .description(
      "enroll (or re-enroll) TOTP for a user: a new secret replaces the old and the user's logins are revoked; prints the otpauth:// URI once",
    )
    .requiredOption(...dataOption)
    .action(async (name: string, opts: { data: string }) => {
      checkUserName(name);
      const secret = newTotpSecret();
      const tokensRevoked = await withStore(opts.data, async (store) => {
        await requireUser(store, name);
        const before = await store.userSecurity.getTotp(name);
        const revoked = await store.userSecurity.enrollTotp(name, secret, Date.now());
        await audit(store, 'user.totp', {
          user: name,
          reenrolled: before !== undefined,
          tokensRevoked: revoked,
        });
        return revoked;
      });
      printTotpEnrollment(name, secret);
      // Logins made before (with the password alone, or the old secret) must be made again.
      printLine(tty`${tokensRevoked} login(s) of ${name} revoked.`);
    });

  user
    .command('disable <name>')
    .description(
      "disable a user: revokes the user's logins; a running hub ends the user's sessions within a second",
    )
    .requiredOption(...dataOption)
    .action(async (name: string, opts: { data: string }) => {
      checkUserName(name);
      const result = await withStore(opts.data, async (store) => {
        await requireUser(store, name);
        const outcome = await store.userSecurity.disableUser(name, Date.now());
        await audit(store, 'user.disable', { user: name, ...outcome });
        return outcome;
      });
      printLine(
        tty`User ${name} ${result.changed ? 'disabled' : 'was disabled already'}; ${result.tokensRevoked} login(s) revoked. A running hub ends the user's sessions within a second.`,
      );
    });

  user
    .command('enable <name>')
    .description('enable a disabled user again (the user logs in again: old logins stay revoked)')
    .requiredOption(...dataOption)
    .action(async (name: string, opts: { data: string }) => {
      checkUserName(name);
      const changed = await withStore(opts.data, async (store) => {
        await requireUser(store, name);
        const enabled = await store.userSecurity.enableUser(name);
        await audit(store, 'user.enable', { user: name, changed: enabled });
        return enabled;
      });
      printLine(tty`User ${name} ${changed ? 'enabled' : 'was enabled already'}`);
    });
}
