// Baseline: a stunnel TLS pair (client stunnel -> server stunnel -> target) with a throwaway
// self-signed ECDSA P-256 certificate that the client pins, as Lifeline pins its hub CA.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts, waitForListen } from './ports.js';
import { runCommand, type ProcessGroup } from './processes.js';

export interface Tunnel {
  /** Where a client connects to reach the target through the tunnel. */
  entryPort: number;
}

export async function startStunnelPair(
  group: ProcessGroup,
  dir: string,
  targetPort: number,
): Promise<Tunnel> {
  const certPath = join(dir, 'stunnel-cert.pem');
  const keyPath = join(dir, 'stunnel-key.pem');
  await runCommand('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
  ]);
  const [entryPort, serverPort] = (await freePorts(2)) as [number, number];
  const common = [
    'foreground = yes',
    'pid =',
    'debug = warning',
    'socket = l:TCP_NODELAY=1',
    'socket = r:TCP_NODELAY=1',
  ];
  const serverConfig = join(dir, 'stunnel-server.conf');
  writeFileSync(
    serverConfig,
    [
      ...common,
      '[bench]',
      `accept = 127.0.0.1:${serverPort}`,
      `connect = 127.0.0.1:${targetPort}`,
      `cert = ${certPath}`,
      `key = ${keyPath}`,
      '',
    ].join('\n'),
  );
  const clientConfig = join(dir, 'stunnel-client.conf');
  writeFileSync(
    clientConfig,
    [
      ...common,
      '[bench]',
      'client = yes',
      `accept = 127.0.0.1:${entryPort}`,
      `connect = 127.0.0.1:${serverPort}`,
      'verifyPeer = yes',
      `CAfile = ${certPath}`,
      '',
    ].join('\n'),
  );
  const server = group.start('stunnel server', 'stunnel', [serverConfig]);
  const client = group.start('stunnel client', 'stunnel', [clientConfig]);
  await waitForListen(serverPort, 'stunnel server', {
    timeoutMs: 5_000,
    check: () => server.assertRunning(),
  });
  await waitForListen(entryPort, 'stunnel client', { timeoutMs: 5_000, check: () => client.assertRunning() });
  return { entryPort };
}
