// Baseline: an OpenSSH reverse tunnel (`ssh -R`) to a private sshd on loopback, one forward per
// target over a single SSH connection, as an appliance would hold one connection to a jump host.
// Each sshd is private to its call (own port, keys and config in `dir`).

import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, freePorts, waitForListen } from './ports.js';
import { runCommand, type ProcessGroup } from './processes.js';

export interface ReverseTunnel<Name extends string> {
  /** For each target, the port (on the sshd side) that forwards to it. */
  forwardPorts: Record<Name, number>;
}

async function generateKey(path: string): Promise<void> {
  await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lifeline-bench', '-f', path]);
}

export async function startSshReverse<Name extends string>(
  group: ProcessGroup,
  dir: string,
  targets: Record<Name, number>,
  options: { noDelay?: boolean } = {},
): Promise<ReverseTunnel<Name>> {
  mkdirSync(dir, { recursive: true });
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const clientKey = join(dir, 'id_ed25519');
  await generateKey(hostKey);
  await generateKey(clientKey);
  const authorizedKeys = join(dir, 'authorized_keys');
  copyFileSync(`${clientKey}.pub`, authorizedKeys);

  const sshdPort = await freePort();
  const sshdConfig = join(dir, 'sshd_config');
  writeFileSync(
    sshdConfig,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PermitRootLogin yes',
      'StrictModes no',
      'UsePAM no',
      'PidFile none',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'AllowTcpForwarding yes',
      'GatewayPorts no',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // sshd refuses to start without its privilege-separation directory (absent in minimal images).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const sshd = group.start('sshd', '/usr/sbin/sshd', ['-D', '-e', '-f', sshdConfig, '-p', String(sshdPort)]);
  await waitForListen(sshdPort, 'sshd', { timeoutMs: 5_000, check: () => sshd.assertRunning() });

  const names = Object.keys(targets) as Name[];
  const ports = await freePorts(names.length);
  const forwardPorts = {} as Record<Name, number>;
  const forwardArgs: string[] = [];
  names.forEach((name, index) => {
    const port = ports[index] ?? 0;
    forwardPorts[name] = port;
    forwardArgs.push('-R', `127.0.0.1:${port}:127.0.0.1:${targets[name]}`);
  });
  // `ssh -N` leaves Nagle on (OpenSSH sets TCP_NODELAY only for interactive sessions), which stalls
  // the first data of a new channel on a delayed ACK (~40 ms). With noDelay the session is made
  // interactive (-tt and a remote `sleep`) only to get TCP_NODELAY, as a tuned reference.
  const mode = options.noDelay === true ? ['-tt'] : ['-N'];
  const remoteCommand = options.noDelay === true ? ['sleep', '86400'] : [];
  const ssh = group.start('ssh -R', 'ssh', [
    ...mode,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    '-i',
    clientKey,
    '-p',
    String(sshdPort),
    ...forwardArgs,
    'root@127.0.0.1',
    ...remoteCommand,
  ]);
  for (const name of names) {
    await waitForListen(forwardPorts[name], `ssh -R forward for ${name}`, {
      timeoutMs: 10_000,
      check: () => ssh.assertRunning(),
    });
  }
  return { forwardPorts };
}
