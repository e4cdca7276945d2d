// Technician MFA and identity end to end: real hub, agent and technician processes on loopback.
// TOTP at login, the agent's MFA requirement, login rate limits, and disabling a user mid-session.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { secretFromTotpUri, totpCode } from '../src/hub/technicians/index.js';
import { CliProcess, Cluster, runCli, waitFor, type CliResult } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

interface HubAuditJson {
  atMs: number;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

async function echoRoundTrip(port: number, text: string): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.write(text);
  let reply = '';
  await waitFor('echo reply', () => {
    const chunk = socket.read() as Buffer | null;
    if (chunk) reply += chunk.toString();
    return reply.length >= text.length ? true : undefined;
  });
  assert.equal(reply, text);
  return socket;
}

describe('technician MFA and identity', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let secret: string;
  const password = 'ana-password-1';
  const anaEnv = (): NodeJS.ProcessEnv => ({ LIFELINE_HOME: join(cluster.root, 'home-ana') });

  const login = (user: string, pass: string, extra: string[] = [], env = anaEnv()): Promise<CliResult> =>
    runCli(
      [
        'login',
        '--hub',
        cluster.hubUrl,
        '--user',
        user,
        '--password-stdin',
        '--ca-file',
        join(cluster.hubDir, 'ca.pem'),
        ...extra,
      ],
      { input: pass + '\n', env },
    );
  const hubAudit = async (): Promise<HubAuditJson[]> =>
    JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as HubAuditJson[];
  /** The current code, or the next one when the current step is about to end (the login takes time). */
  const freshCode = (): string => {
    const nowMs = Date.now();
    return totpCode(secret, nowMs % 30_000 > 27_000 ? nowMs + 3000 : nowMs);
  };

  before(async () => {
    echo = await startEchoServer();
    // A long back-off, so that the rate-limit test can look at a refusal without racing it.
    cluster = await Cluster.start({ services: { echo: echo.port }, hubYaml: 'login:\n  backoff: 10s\n' });
    const added = await cluster.cli(
      ['hub', 'user', 'add', 'ana', '--password-stdin', '--totp', '--data', cluster.hubDir],
      { input: password + '\n' },
    );
    const uri = /^otpauth:\/\/totp\/\S+$/m.exec(added.stdout)?.[0];
    assert.ok(uri, `no otpauth URI in: ${added.stdout}`);
    assert.match(uri, /^otpauth:\/\/totp\/Lifeline:ana\?.*issuer=Lifeline/);
    secret = secretFromTotpUri(uri);
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('a TOTP user is refused without a code and with a wrong one, and logs in with a valid one', async () => {
    const without = await login('ana', password);
    assert.equal(without.code, 1);
    assert.match(
      without.stderr,
      /this user logs in with a TOTP code: add --totp CODE \(AUTH_TOTP_REQUIRED\)/,
    );

    const right = freshCode();
    const wrong = String((Number(right) + 500_000) % 1_000_000).padStart(6, '0');
    const wrongResult = await login('ana', password, ['--totp', wrong]);
    assert.equal(wrongResult.code, 1);
    assert.match(wrongResult.stderr, /AUTH_TOTP_INVALID/);

    const ok = await login('ana', password, ['--totp', freshCode()]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Logged in to .* as ana .*with password and TOTP/);

    const audit = await hubAudit();
    const codes = audit
      .filter((e) => e.actor === 'user:ana' && e.action === 'login.refused')
      .map((e) => e.detail.code);
    assert.deepEqual(codes, ['AUTH_TOTP_REQUIRED', 'AUTH_TOTP_INVALID']);
    const success = audit.find((e) => e.actor === 'user:ana' && e.action === 'login');
    assert.deepEqual(success?.detail.amr, ['pwd', 'otp']);
    assert.ok(!JSON.stringify(audit).includes(secret), 'the TOTP secret is never in the audit log');
    const hubLog = `${cluster.hub?.stdout ?? ''}${cluster.hub?.stderr ?? ''}`;
    assert.ok(!hubLog.includes(secret), 'nor in the hub log');
  });

  test('with MFA required the agent admits the TOTP login and refuses a password-only one', async () => {
    // A password-only session running when MFA becomes required ends at once.
    const running = await cluster.connectListen('echo');
    const socket = await echoRoundTrip(running.port, 'before the change');
    const closed = once(socket, 'close');
    await cluster.cli(['agent', 'mfa', 'required', '--data', cluster.agentDir]);
    await closed;
    await waitFor('the technician told why', () =>
      /session ended: the appliance now requires MFA/.test(running.process.stderr),
    );
    await running.process.stop();
    const status = await cluster.cli(['agent', 'status', '--data', cluster.agentDir]);
    assert.match(status.stdout, /MFA\s+required/);
    try {
      const refused = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
        input: 'password only\n',
        env: cluster.techEnv,
      });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /requires MFA.*--totp CODE.*\(SESSION_MFA_REQUIRED\)/);

      const admitted = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
        input: 'with a second factor\n',
        env: anaEnv(),
      });
      assert.equal(admitted.code, 0, admitted.stderr);
      assert.equal(admitted.stdout, 'with a second factor\n');

      const { entries } = (await cluster.admin('GET', '/v1/audit')) as { entries: HubAuditJson[] };
      const refusal = entries.find((e) => e.action === 'session.refused' && e.detail.technician === 'tech');
      assert.equal(refusal?.detail.code, 'SESSION_MFA_REQUIRED');
      assert.deepEqual(refusal?.detail.amr, ['pwd']);
      const start = entries.find((e) => e.action === 'session.start' && e.detail.technician === 'ana');
      assert.deepEqual(start?.detail.amr, ['pwd', 'otp'], 'the ticket carried otp');
      const change = entries.find((e) => e.action === 'policy.mfa');
      assert.deepEqual(
        { from: change?.detail.from, to: change?.detail.to },
        { from: 'optional', to: 'required' },
      );
    } finally {
      await cluster.cli(['agent', 'mfa', 'optional', '--data', cluster.agentDir]);
    }
    const again = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      input: 'optional again\n',
      env: cluster.techEnv,
    });
    assert.equal(again.code, 0, again.stderr);
  });

  test('after wrong passwords the right one is refused from that address with 429 and when to try again', async () => {
    await cluster.addUser('victim', 'victim-password-1');
    const env = { LIFELINE_HOME: join(cluster.root, 'home-victim') };
    // The first mistake costs nothing; the second makes this user wait 10 s at this address.
    for (let i = 0; i < 2; i++) {
      const bad = await login('victim', `wrong-guess-${i}`, [], env);
      assert.match(bad.stderr, /AUTH_INVALID/, `attempt ${i + 1}`);
    }
    const limited = await login('victim', 'victim-password-1', [], env);
    assert.equal(limited.code, 1);
    assert.match(
      limited.stderr,
      /too many failed logins for user victim from 127\.0\.0\.1: try again in \d+ s \(AUTH_RATE_LIMITED\)/,
    );

    // The HTTP answer itself: 429 with retry-after. From 127.0.0.2, where no login failed, the
    // same user gets in: failed logins never lock a user out from everywhere.
    const loginOver = (localAddress: string) =>
      new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
        const req = httpsRequest(
          `${cluster.hubUrl}/v1/login`,
          {
            method: 'POST',
            ca: readFileSync(join(cluster.hubDir, 'ca.pem'), 'utf8'),
            headers: { 'content-type': 'application/json' },
            localAddress,
          },
          (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }),
            );
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ user: 'victim', password: 'victim-password-1' }));
      });
    const answer = await loginOver('127.0.0.1');
    assert.equal(answer.status, 429);
    const seconds = Number(answer.retryAfter);
    assert.ok(seconds >= 1 && seconds <= 10, `retry-after ${answer.retryAfter}`);
    assert.equal((JSON.parse(answer.body) as { code: string }).code, 'AUTH_RATE_LIMITED');
    assert.equal((await loginOver('127.0.0.2')).status, 200);
    // Other users are not affected.
    assert.equal((await login('tech', 'tech-password-1', [], cluster.techEnv)).code, 0);
  });

  test('enrolling TOTP revokes the logins made with the password alone', async () => {
    const env = await cluster.technician('carla', 'carla-password-1');
    assert.equal((await runCli(['stations'], { env })).code, 0);
    const enrolled = await cluster.cli(['hub', 'user', 'totp', 'carla', '--data', cluster.hubDir]);
    assert.match(enrolled.stdout, /^otpauth:\/\/totp\/Lifeline:carla\?/m);
    assert.match(enrolled.stdout, /1 login\(s\) of carla revoked/);
    // The hub trusts a checked login for at most 2 s before it looks again.
    const refused = await waitFor(
      'the old login to be refused',
      async () => {
        const result = await runCli(['stations'], { env });
        return result.code === 1 ? result : undefined;
      },
      5000,
    );
    assert.match(refused.stderr, /the login was revoked at .*\(AUTH_REQUIRED\)/);
    const withoutCode = await login('carla', 'carla-password-1', [], env);
    assert.match(withoutCode.stderr, /AUTH_TOTP_REQUIRED/);
    const entry = (await hubAudit()).find((e) => e.action === 'user.totp' && e.detail.user === 'carla');
    assert.deepEqual([entry?.detail.reenrolled, entry?.detail.tokensRevoked], [false, 1]);
  });

  test("a disabled user's live session ends within 2 s; the user cannot log in or use the old token", async () => {
    const leaverEnv = await cluster.technician('leaver', 'leaver-password-1');
    const proc = cluster.track(
      new CliProcess(
        ['connect', cluster.stationId, '--service', 'echo', '--listen', '127.0.0.1:0'],
        leaverEnv,
      ),
    );
    await waitFor('connect --listen', () => {
      if (proc.child.exitCode !== null) throw new Error(`connect exited: ${proc.stderr}`);
      return /Forwarding 127\.0\.0\.1:(\d+)/.exec(proc.stderr) ?? undefined;
    });
    const port = Number(/Forwarding 127\.0\.0\.1:(\d+)/.exec(proc.stderr)?.[1]);
    const socket = await echoRoundTrip(port, 'still here');
    let endedAtMs = 0;
    const ended = new Promise<void>((resolve) =>
      socket.once('close', () => {
        endedAtMs = Date.now();
        resolve();
      }),
    );

    const disabled = await cluster.cli(['hub', 'user', 'disable', 'leaver', '--data', cluster.hubDir]);
    assert.match(disabled.stdout, /User leaver disabled; 1 login\(s\) revoked/);
    await Promise.race([
      ended,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the session did not end')), 10_000)),
    ]);
    const audit = await hubAudit();
    const disableEntry = audit.find((e) => e.action === 'user.disable' && e.detail.user === 'leaver');
    assert.ok(disableEntry);
    // From the moment the store held the change (the entry is written right after it commits).
    const tookMs = endedAtMs - disableEntry.atMs;
    assert.ok(tookMs < 2000, `the session ended ${tookMs} ms after the user was disabled`);
    console.log(`# the disabled user's session ended ${tookMs} ms after the disable`);

    assert.ok(audit.some((e) => e.action === 'user.sessions-ended' && e.detail.user === 'leaver'));
    await waitFor('the session end on the hub', async () =>
      (await hubAudit()).some((e) => e.action === 'session.end' && e.detail.endReason === 'user-disabled'),
    );
    await waitFor('the technician told why', () =>
      /the technician user was disabled on the hub/.test(proc.stderr),
    );
    await waitFor('the agent to end its side', async () => {
      const sessions = (await cluster.admin('GET', '/v1/sessions')) as { active: unknown[] };
      return sessions.active.length === 0;
    });

    const stations = await runCli(['stations'], { env: leaverEnv });
    assert.equal(stations.code, 1);
    assert.match(stations.stderr, /the login was revoked at .*\(AUTH_REQUIRED\)/);
    const relogin = await login('leaver', 'leaver-password-1', [], leaverEnv);
    assert.equal(relogin.code, 1);
    assert.match(relogin.stderr, /AUTH_INVALID/);
    const list = await cluster.cli(['hub', 'user', 'list', '--json', '--data', cluster.hubDir]);
    const leaver = (JSON.parse(list.stdout) as { name: string; disabled: string }[]).find(
      (u) => u.name === 'leaver',
    );
    assert.equal(leaver?.disabled, 'yes');

    await cluster.cli(['hub', 'user', 'enable', 'leaver', '--data', cluster.hubDir]);
    assert.equal((await login('leaver', 'leaver-password-1', [], leaverEnv)).code, 0);
  });
});
