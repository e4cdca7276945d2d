// Acceptance: with only an authenticating HTTP proxy (a real tinyproxy) between the appliance and the
// hub, enrollment, call home and a technician's session all work, and the proxy's log shows each
// CONNECT; a wrong proxy password is a clear 407 in `lifeline agent status` and `callhome test`.
//
// The agent cannot reach the hub except through the proxy: the address in its enrollment token is a
// guard in front of the hub's station port that admits only connections from 127.0.0.2, the address
// tinyproxy binds its outgoing connections to (`Bind`). Any direct dial would be refused and counted.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Cluster, canConnect, freePort, runCli, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

interface Tinyproxy {
  port: number;
  logFile: string;
  child: ChildProcess;
  /** The CONNECT requests the proxy logged, as "HOST:PORT". */
  connects(): string[];
  close(): Promise<void>;
}

async function startTinyproxy(dir: string, user: string, password: string): Promise<Tinyproxy> {
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  const conf = join(dir, 'tinyproxy.conf');
  // No ConnectPort line: CONNECT is allowed to every port (the hub's station port is not 443 here).
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Bind 127.0.0.2',
      'Timeout 600',
      'MaxClients 100',
      `BasicAuth ${user} ${password}`,
      `LogFile "${logFile}"`,
      'LogLevel Connect',
      '',
    ].join('\n'),
  );
  const child = spawn('tinyproxy', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('tinyproxy to listen', async () => {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited: ${output}`);
    return canConnect(port);
  });
  return {
    port,
    logFile,
    child,
    connects: () => {
      let log = '';
      try {
        log = readFileSync(logFile, 'utf8');
      } catch {
        return [];
      }
      return [...log.matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP\/1\.[01]/g)].map(
        (m) => m[1] ?? '',
      );
    },
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'close');
      }
    },
  };
}

/** The hub's station port behind a guard that admits only the proxy's outgoing address. */
async function startGuard(hubPort: number): Promise<{ port: number; refused: string[]; server: Server }> {
  const refused: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (socket.remoteAddress !== '127.0.0.2' && socket.remoteAddress !== '::ffff:127.0.0.2') {
      refused.push(socket.remoteAddress ?? '?');
      socket.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: hubPort });
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  return { port: (server.address() as AddressInfo).port, refused, server };
}

describe('an authenticating HTTP proxy (tinyproxy)', () => {
  let cluster: Cluster;
  let proxy: Tinyproxy;
  let guard: Awaited<ReturnType<typeof startGuard>>;
  let echo: EchoServer;
  let passwordFile: string;
  let hubAddress: string;
  // agent.yaml's proxy wins over the environment; the commands run without one all the same.
  const env = { HTTPS_PROXY: '', https_proxy: '', NO_PROXY: '', no_proxy: '' };

  before(async () => {
    echo = await startEchoServer();
    cluster = new Cluster();
    proxy = await startTinyproxy(cluster.root, 'appliance', 'proxy-secret-1');
    await cluster.initHub();
    guard = await startGuard(cluster.stationPort);
    hubAddress = `127.0.0.1:${guard.port}`;
    // The enrollment token carries the guarded address: the agent knows no other way to the hub.
    const hubYaml = join(cluster.hubDir, 'hub.yaml');
    writeFileSync(
      hubYaml,
      readFileSync(hubYaml, 'utf8').replace(/stationAddress: .*/, `stationAddress: ${hubAddress}`),
    );
    await cluster.startHub();
    await cluster.addUser('tech', 'tech-password-1');
    passwordFile = join(cluster.root, 'proxy-password');
    writeFileSync(passwordFile, 'proxy-secret-1\n', { mode: 0o600 });
  });

  after(async () => {
    await cluster?.close();
    await proxy?.close();
    guard?.server.close();
    await echo?.close();
  });

  test('enrollment goes through the proxy and agent.yaml keeps the proxy without its password', async () => {
    const tokenFile = await cluster.createToken();
    const result = await runCli(
      [
        'agent',
        'enroll',
        '--data',
        cluster.agentDir,
        '--token-file',
        tokenFile,
        '--proxy',
        `http://127.0.0.1:${proxy.port}`,
        '--proxy-user',
        'appliance',
        '--proxy-password-file',
        passwordFile,
      ],
      { env },
    );
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stderr, new RegExp(`through the proxy http://127\\.0\\.0\\.1:${proxy.port}`));
    const match = /Station ID: (ST-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z])/.exec(result.stdout);
    assert.ok(match?.[1], result.stdout);
    cluster.stationId = match[1];
    const yaml = readFileSync(join(cluster.agentDir, 'agent.yaml'), 'utf8');
    assert.match(yaml, new RegExp(`url: http://127\\.0\\.0\\.1:${proxy.port}`));
    assert.match(yaml, /username: appliance/);
    assert.match(yaml, new RegExp(`passwordFile: ${passwordFile.replace(/[/.]/g, '\\$&')}`));
    assert.doesNotMatch(yaml, /proxy-secret-1/);
    // The pin check and the certificate request: two connections, both CONNECTs to the hub.
    assert.ok(proxy.connects().filter((c) => c === hubAddress).length >= 2, proxy.connects().join(', '));
    assert.deepEqual(guard.refused, []);
  });

  test('call home and a technician session work through the proxy, and status names it', async () => {
    const before = proxy.connects().length;
    await cluster.addService('echo', echo.port);
    await cluster.startAgent();
    await cluster.cli(['agent', 'access', 'full', '--data', cluster.agentDir]);
    await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
    await cluster.waitForTunnel();

    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'PSU 2 failed behind a proxy',
      '--severity',
      'major',
      '--data',
      cluster.agentDir,
    ]);
    assert.match(opened.stdout, /Problem PB-/);
    await waitFor('the problem on the hub', async () => {
      const problems = JSON.parse(
        (await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir])).stdout,
      ) as { summary: string; stationId: string }[];
      return problems.some(
        (p) => p.summary === 'PSU 2 failed behind a proxy' && p.stationId === cluster.stationId,
      )
        ? true
        : undefined;
    });

    const login = await cluster.login('tech', 'tech-password-1');
    assert.equal(login.code, 0, login.stderr);
    const session = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      input: 'through the proxy\n',
      env: cluster.techEnv,
    });
    assert.equal(session.code, 0, session.stderr);
    assert.equal(session.stdout, 'through the proxy\n');

    // The tunnel and the call-home connections: each a CONNECT to the hub in the proxy's log.
    const connects = proxy.connects().slice(before);
    assert.ok(connects.filter((c) => c === hubAddress).length >= 2, connects.join(', '));
    assert.deepEqual(guard.refused, [], 'nothing reached the hub around the proxy');

    const status = JSON.parse(
      (await cluster.cli(['agent', 'status', '--json', '--data', cluster.agentDir])).stdout,
    ) as {
      hub: string;
      hubEndpoints: { endpoint: string; state: string; via: string }[];
      proxy: { url: string; username: string; lastError: string | null };
    };
    assert.equal(status.hub, hubAddress);
    assert.deepEqual(
      status.hubEndpoints.map((e) => [e.endpoint, e.state, e.via]),
      [[hubAddress, 'in-use', 'proxy']],
    );
    assert.equal(status.proxy.url, `http://127.0.0.1:${proxy.port}`);
    assert.equal(status.proxy.username, 'appliance');
    assert.equal(status.proxy.lastError, null);
    const text = (await cluster.cli(['agent', 'status', '--data', cluster.agentDir])).stdout;
    assert.match(text, new RegExp(`Proxy +http://127\\.0\\.0\\.1:${proxy.port} as appliance`));
    assert.doesNotMatch(text, /proxy-secret-1/);

    const check = await runCli(['agent', 'callhome', 'test', '--data', cluster.agentDir], { env });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /ok +proxy: .*opened a tunnel to 127\.0\.0\.1:\d+ as appliance/);
    assert.match(check.stdout, /ok +round trip:/);
    assert.deepEqual(guard.refused, []);
  });

  test('a wrong proxy password is a clear 407 in agent status and callhome test', async () => {
    await cluster.stopAgent();
    writeFileSync(passwordFile, 'not-the-password\n');
    await cluster.startAgent();
    const status = await waitFor('the 407 in agent status', async () => {
      const result = await runCli(['agent', 'status', '--data', cluster.agentDir]);
      return /Proxy error/.test(result.stdout) ? result.stdout : undefined;
    });
    assert.match(status, /Proxy error +PROXY_AUTH_REQUIRED \(407\)/);
    // tinyproxy answers wrong credentials with 401 where most proxies send 407: both are the same error.
    assert.match(status, /asks for authentication \(HTTP\/1\.[01] 40[17] /);
    assert.match(status, /proxy\.username and proxy\.passwordFile/);
    assert.match(status, /Tunnel +waiting/);
    assert.doesNotMatch(status, /not-the-password/);
    // The agent's log says it too, once, when the tunnel starts waiting.
    assert.match(
      cluster.agent?.stdout ?? '',
      /"lastError":"the proxy http:\/\/127\.0\.0\.1:\d+ asks for authentication/,
    );
    assert.doesNotMatch(cluster.agent?.stdout ?? '', /not-the-password/);

    const check = await runCli(['agent', 'callhome', 'test', '--data', cluster.agentDir], { env });
    assert.equal(check.code, 1, check.stdout);
    assert.match(check.stdout, /FAILED +proxy: .*asks for authentication.*\(PROXY_AUTH_REQUIRED\)/);
    assert.match(check.stdout, /ok +TCP connect: .*the proxy at 127\.0\.0\.1/);
  });
});
