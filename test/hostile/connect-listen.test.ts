// `lifeline connect --listen` hands every connection to its port a session with the technician's
// identity: on an address other machines reach it needs --allow-remote, and then says who can use
// the session as whom. Loopback, in any spelling, needs no flag.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { Cluster, CliProcess, freePort, runCli, waitFor } from '../harness/cluster.js';
import { startEchoServer, type EchoServer } from '../harness/echo-server.js';

function echoOnce(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.length >= text.length) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed before the echo; got ${JSON.stringify(reply)}`)));
    socket.write(text);
  });
}

describe('connect --listen', () => {
  let cluster: Cluster;
  let echo: EchoServer;

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start({ services: { echo: echo.port } });
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('connect --listen on an address other machines reach is refused without --allow-remote', async () => {
    for (const listen of ['0.0.0.0:2222', '[::]:2222', '192.0.2.1:2222', '127.1:2222']) {
      const result = await runCli(['connect', cluster.stationId, '--service', 'echo', '--listen', listen], {
        env: cluster.techEnv,
      });
      assert.equal(result.code, 1, listen);
      assert.match(
        result.stderr,
        /^lifeline: --listen \S+ is not a loopback address: anyone who can reach it would get a session to echo on ST-\S+ as you\. Listen on 127\.0\.0\.1 \(or ::1, localhost\), or add --allow-remote if that is what you want \(API_BAD_REQUEST\)$/m,
        listen,
      );
    }
    // Refused before anything else: also without a login, and without a word to the appliance.
    const noLogin = await runCli(
      ['connect', cluster.stationId, '--service', 'echo', '--listen', '0.0.0.0:2222'],
      {
        env: { LIFELINE_HOME: join(cluster.root, 'nobody') },
      },
    );
    assert.match(noLogin.stderr, /\(API_BAD_REQUEST\)/);
    const audit = (await cluster.admin('GET', '/v1/audit')) as { entries: { action: string }[] };
    assert.ok(!audit.entries.some((e) => e.action.startsWith('session.')), JSON.stringify(audit.entries));
  });

  test('loopback in any spelling needs no flag', async () => {
    const { port, process } = await cluster.connectListen('echo');
    assert.doesNotMatch(process.stderr, /warning/);
    assert.equal(await echoOnce(port, 'ping'), 'ping');
    await process.stop();
  });

  test('with --allow-remote the session is served, and a warning says who can use it as whom', async () => {
    // 127.1 is loopback to the kernel but not an address Lifeline recognizes as one (a name it
    // would have to trust to resolve to loopback): so the test binds nothing other machines reach.
    const port = await freePort();
    const proc = cluster.track(
      new CliProcess(
        ['connect', cluster.stationId, '--service', 'echo', '--listen', `127.1:${port}`, '--allow-remote'],
        cluster.techEnv,
      ),
    );
    await waitFor('connect --listen', () => {
      if (proc.child.exitCode !== null) throw new Error(`connect exited: ${proc.stderr}`);
      return /Forwarding/.test(proc.stderr);
    });
    assert.match(
      proc.stderr,
      new RegExp(
        `^warning: --allow-remote: anyone who can reach 127\\.1:${port} on this machine's network can use these sessions to echo on ${cluster.stationId}, with your identity \\(tech\\); the appliance audits each of them as tech$`,
        'm',
      ),
    );
    assert.equal(await echoOnce(port, 'pong'), 'pong');
    await proc.stop();
  });
});

describe('connect --listen when the hub closes its connection', () => {
  let cluster: Cluster;
  let echo: EchoServer;

  before(async () => {
    echo = await startEchoServer();
    // The hub closes a connection without a request after a second.
    cluster = await Cluster.start({
      services: { echo: echo.port },
      hubYaml: 'connections:\n  idleTimeout: 1s\n',
    });
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('the next local connection opens a new hub connection: after the idle limit, and after a hub restart', async () => {
    const { port, process: listener } = await cluster.connectListen('echo');
    assert.equal(await echoOnce(port, 'first\n'), 'first\n');
    // Idle for longer than the hub allows: it closes the connection (GOAWAY); connect keeps listening.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(listener.child.exitCode, null, listener.stderr);
    assert.equal(await echoOnce(port, 'after idle\n'), 'after idle\n');

    await cluster.stopHub();
    await cluster.startHub();
    await cluster.waitForTunnel('connected', 60_000);
    assert.equal(listener.child.exitCode, null, listener.stderr);
    const reply = await waitFor('a session after the hub restart', async () => {
      const text = await echoOnce(port, 'after restart\n').catch(() => undefined);
      return text === 'after restart\n' ? text : undefined;
    });
    assert.equal(reply, 'after restart\n');
  });
});
