// A private OpenSSH server on a loopback port, in a fresh temporary directory, with its own host key
// and one client key allowed to log in as the current user (root in CI).

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './cluster.js';

export const sshdPath = '/usr/sbin/sshd';
const startTimeoutMs = 10_000;

export interface Sshd {
  port: number;
  /** The user the client key logs in as. */
  user: string;
  /** The client's private key, for `ssh -i`. */
  clientKeyPath: string;
  close(): Promise<void>;
}

/** Fails (never skips) when OpenSSH is not installed, naming the package to install. */
function requireOpenSsh(): void {
  if (!existsSync(sshdPath))
    throw new Error(
      `${sshdPath} not found: install openssh-server (apt-get install openssh-server; .ci/run installs it in CI)`,
    );
}

async function generateKey(path: string): Promise<void> {
  try {
    await promisify(execFile)('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'lifeline-test',
      '-f',
      path,
    ]);
  } catch (err) {
    throw new Error('ssh-keygen failed: install openssh-client', { cause: err });
  }
}

export async function startSshd(): Promise<Sshd> {
  requireOpenSsh();
  const user = process.getuid?.() === 0 ? 'root' : userInfo().username;
  // The privilege-separation directory sshd insists on when it runs as root.
  if (user === 'root') mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-sshd-'));
  try {
    const hostKeyPath = join(dir, 'host_ed25519');
    const clientKeyPath = join(dir, 'client_ed25519');
    const authorizedKeysPath = join(dir, 'authorized_keys');
    const configPath = join(dir, 'sshd_config');
    await Promise.all([generateKey(hostKeyPath), generateKey(clientKeyPath)]);
    writeFileSync(authorizedKeysPath, readFileSync(`${clientKeyPath}.pub`), { mode: 0o600 });
    const port = await freePort();
    writeFileSync(
      configPath,
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${hostKeyPath}`,
        'PermitRootLogin yes',
        'StrictModes no',
        'UsePAM no',
        'PidFile none',
        `AuthorizedKeysFile ${authorizedKeysPath}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        '',
      ].join('\n'),
    );
    const child = spawn(sshdPath, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise<void>((done) => child.once('close', () => done()));
    // `-e` logs to stderr; "Server listening" follows listen(), so connections are accepted from then on.
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(new Error(`sshd did not listen within ${startTimeoutMs} ms: ${stderr}`));
      }, startTimeoutMs);
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes(`Server listening on 127.0.0.1 port ${port}`)) {
          clearTimeout(timer);
          ready();
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        fail(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        fail(new Error(`sshd exited (${signal ?? code}) before listening: ${stderr}`));
      });
    });
    let closing: Promise<void> | undefined;
    return {
      port,
      user,
      clientKeyPath,
      close: () =>
        (closing ??= (async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
          rmSync(dir, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The options every test ssh client uses against a test sshd: no config, no host key checks, its key. */
export function sshClientArgs(sshd: Sshd): string[] {
  return [
    '-F',
    '/dev/null',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'IdentitiesOnly=yes',
    '-i',
    sshd.clientKeyPath,
  ];
}
