// A real OpenSSH client and server through Lifeline: `connect --listen` and `connect --stdio` as
// ssh's ProxyCommand, each carrying a command to the far side and its output back.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { type as osType } from 'node:os';
import { Cluster, cliPath, waitFor, type CliResult } from './harness/cluster.js';
import { sshClientArgs, startSshd, type Sshd } from './harness/sshd.js';

const remoteCommand = 'echo lifeline-$((6*7)); uname -s';
const sshTimeoutMs = 30_000;

interface SessionRecord {
  id: string;
  service: string;
  endedAtMs: number | null;
  bytesIn: number;
  bytesOut: number;
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

describe('ssh through lifeline', () => {
  let cluster: Cluster | undefined;
  let sshd: Sshd | undefined;
  const sshChildren = new Set<ChildProcess>();

  before(async () => {
    sshd = await startSshd();
    cluster = await Cluster.start();
    await cluster.addService('ssh', sshd.port);
  });

  after(async () => {
    for (const child of sshChildren) child.kill('SIGKILL');
    await cluster?.close();
    await sshd?.close();
  });

  function setUp(): { cluster: Cluster; sshd: Sshd } {
    if (!cluster || !sshd) throw new Error('the cluster or sshd did not start');
    return { cluster, sshd };
  }

  function runSsh(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
    const { sshd } = setUp();
    return new Promise((done, fail) => {
      const child = spawn('ssh', [...sshClientArgs(sshd), ...args], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      sshChildren.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(new Error(`ssh ${args.join(' ')} did not finish; stderr: ${stderr}`));
      }, sshTimeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        fail(new Error('could not run ssh: install openssh-client', { cause: err }));
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        sshChildren.delete(child);
        done({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  async function recentSessions(): Promise<SessionRecord[]> {
    const { cluster } = setUp();
    const body = (await cluster.admin('GET', '/v1/sessions')) as { recent: SessionRecord[] };
    return body.recent;
  }

  /** The one session not in `known`, once the agent has recorded its end. */
  async function endedSessionSince(known: Set<string>): Promise<SessionRecord> {
    const fresh = await waitFor('the agent to record the end of the ssh session', async () => {
      const added = (await recentSessions()).filter((s) => !known.has(s.id));
      return added.length > 0 && added.every((s) => s.endedAtMs !== null) ? added : undefined;
    });
    assert.equal(fresh.length, 1, `expected one new session, got ${JSON.stringify(fresh)}`);
    const [session] = fresh;
    assert.ok(session);
    return session;
  }

  function assertSshSession(session: SessionRecord): void {
    assert.equal(session.service, 'ssh');
    assert.equal(typeof session.endedAtMs, 'number');
    assert.ok(session.bytesIn > 0, `bytesIn ${session.bytesIn}`);
    assert.ok(session.bytesOut > 0, `bytesOut ${session.bytesOut}`);
  }

  const expectedOutput = `lifeline-42\n${osType()}\n`;

  test('ssh through connect --listen runs a command on the far side', async () => {
    const { cluster, sshd } = setUp();
    const known = new Set((await recentSessions()).map((s) => s.id));
    const { port, process: forwarder } = await cluster.connectListen('ssh');
    const result = await runSsh(['-p', String(port), `${sshd.user}@127.0.0.1`, remoteCommand], {});
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, expectedOutput);
    assertSshSession(await endedSessionSince(known));
    await forwarder.stop();
  });

  test('ssh with ProxyCommand connect --stdio runs a command on the far side', async () => {
    const { cluster, sshd } = setUp();
    const known = new Set((await recentSessions()).map((s) => s.id));
    const proxyCommand = [
      process.execPath,
      cliPath,
      'connect',
      cluster.stationId,
      '--service',
      'ssh',
      '--stdio',
    ]
      .map(shellQuote)
      .join(' ');
    const result = await runSsh(
      ['-o', `ProxyCommand=${proxyCommand}`, `${sshd.user}@127.0.0.1`, remoteCommand],
      cluster.techEnv,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, expectedOutput);
    assertSshSession(await endedSessionSince(known));
  });
});
