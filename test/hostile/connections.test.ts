// Connections that never finish, against a real hub and agent on loopback: 1,000 TCP connections
// that send nothing to the station port, 1,000 logins whose bodies trickle in to the technician
// API and 1,000 idle connections to the agent's admin API are all closed within 15 s, while a
// technician's session still starts and the agent still answers. Then the same with caps so high
// that only the deadlines can close them; a station's own call-home body sent a byte every 100 ms;
// and the TLS key-exchange groups and signature algorithms both hub ports refuse.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Cluster, runCli } from '../harness/cluster.js';
import { startEchoServer, type EchoServer } from '../harness/echo-server.js';

const attackSize = 1000;
/** Every attacking connection must be closed within this of being opened. */
const closedWithinMs = 15_000;

/** One attacking connection: when it was opened, and when the server closed it. */
interface Held {
  openedAtMs: number;
  closedAtMs: number | undefined;
}

/** Runs `open` for each of `count`, at most `parallel` at once (each resolves once its connection is up or gone). */
async function openMany(count: number, parallel: number, open: () => Promise<Held>): Promise<Held[]> {
  const held: Held[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next += 1;
        held.push(await open());
      }
    }),
  );
  return held;
}

/** A TCP connection that never sends a byte. */
function idleTcp(port: number): Promise<Held> {
  return new Promise((resolve) => {
    const held: Held = { openedAtMs: Date.now(), closedAtMs: undefined };
    const socket = netConnect({ port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    socket.once('close', () => (held.closedAtMs = Date.now()));
    socket.once('connect', () => resolve(held));
    socket.once('error', () => resolve(held));
  });
}

/** A TLS connection to the technician API that starts a login and sends its body a byte a second. */
function slowLogin(port: number, ca: Buffer, timers: Set<NodeJS.Timeout>): Promise<Held> {
  return new Promise((resolve) => {
    const held: Held = { openedAtMs: Date.now(), closedAtMs: undefined };
    const socket = tlsConnect({
      port,
      host: '127.0.0.1',
      ca,
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    });
    let timer: NodeJS.Timeout | undefined;
    socket.on('error', () => undefined);
    socket.once('close', () => {
      held.closedAtMs = Date.now();
      clearInterval(timer);
      if (timer) timers.delete(timer);
    });
    socket.once('secureConnect', () => {
      socket.write(
        'POST /v1/login HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"user":"',
      );
      timer = setInterval(() => socket.writable && socket.write('a'), 1000);
      timers.add(timer);
      resolve(held);
    });
    socket.once('error', () => resolve(held));
  });
}

/** Waits until every connection is closed, or `closedWithinMs` after the last was opened. */
async function allClosed(held: Held[]): Promise<void> {
  const lastOpenedAtMs = Math.max(...held.map((h) => h.openedAtMs));
  while (held.some((h) => h.closedAtMs === undefined) && Date.now() < lastOpenedAtMs + closedWithinMs + 2000)
    await new Promise((resolve) => setTimeout(resolve, 100));
}

function assertClosedInTime(what: string, held: Held[]): void {
  assert.equal(held.length, attackSize);
  const open = held.filter((h) => h.closedAtMs === undefined).length;
  assert.equal(open, 0, `${what}: ${open} of ${held.length} still open`);
  const longest = Math.max(...held.map((h) => (h.closedAtMs ?? Infinity) - h.openedAtMs));
  assert.ok(longest <= closedWithinMs, `${what}: one stayed open ${longest} ms`);
}

/** The hub's `connections_closed_total` by listener and reason. */
async function closedCounts(cluster: Cluster): Promise<Map<string, number>> {
  const token = readFileSync(join(cluster.hubDir, 'metrics-token'), 'utf8').trim();
  const { text } = await cluster.hubGet('/metrics', { authorization: `Bearer ${token}` });
  const counts = new Map<string, number>();
  for (const match of text.matchAll(
    /^lifeline_hub_connections_closed_total\{listener="(\w+)",reason="([\w-]+)"\} (\d+)$/gm,
  ))
    counts.set(`${match[1]}/${match[2]}`, Number(match[3]));
  return counts;
}

/** A technician's session through the tunnel: text in, the same text back. */
async function sessionWorks(cluster: Cluster): Promise<void> {
  const result = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
    env: cluster.techEnv,
    input: 'still here\n',
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'still here\n');
}

async function attack(cluster: Cluster, timers: Set<NodeJS.Timeout>) {
  const ca = readFileSync(join(cluster.hubDir, 'ca.pem'));
  const [station, logins, admin] = await Promise.all([
    openMany(attackSize, 50, () => idleTcp(cluster.stationPort)),
    openMany(attackSize, 20, () => slowLogin(cluster.apiPort, ca, timers)),
    openMany(attackSize, 50, () => idleTcp(cluster.adminPort)),
  ]);
  return { station, logins, admin };
}

describe('connections that never finish', () => {
  let echo: EchoServer;
  const timers = new Set<NodeJS.Timeout>();

  before(async () => {
    echo = await startEchoServer();
  });

  after(async () => {
    for (const timer of timers) clearInterval(timer);
    await echo?.close();
  });

  test('with the default caps: all closed within 15 s, and a session starts meanwhile', async () => {
    const cluster = await Cluster.start({ services: { echo: echo.port } });
    try {
      const held = await attack(cluster, timers);
      // While the slow logins still trickle: a technician's session, and the agent's own API.
      await sessionWorks(cluster);
      assert.equal((await cluster.agentStatus()).tunnel.state, 'connected');
      await Promise.all([allClosed(held.station), allClosed(held.logins), allClosed(held.admin)]);
      assertClosedInTime('idle connections to the station port', held.station);
      assertClosedInTime('slow logins to the technician API', held.logins);
      assertClosedInTime('idle connections to the admin API', held.admin);
      await sessionWorks(cluster);
      const counts = await closedCounts(cluster);
      // Past 128 per address, the oldest made room for the newest.
      assert.ok((counts.get('station/address-limit') ?? 0) > 0, JSON.stringify([...counts]));
      assert.ok((counts.get('technician/address-limit') ?? 0) > 0, JSON.stringify([...counts]));
    } finally {
      await cluster.close();
    }
  });

  test('with caps out of reach, the deadlines alone close them all within 15 s', async () => {
    const cluster = await Cluster.start({
      services: { echo: echo.port },
      hubYaml: 'connections:\n  maxUnauthenticatedPerAddress: 5000\n  maxUnauthenticated: 5000\n',
      agentConfig: {
        admin: { connections: { maxUnauthenticatedPerAddress: 5000, maxUnauthenticated: 5000 } },
      },
    });
    try {
      const held = await attack(cluster, timers);
      await sessionWorks(cluster);
      await Promise.all([allClosed(held.station), allClosed(held.logins), allClosed(held.admin)]);
      assertClosedInTime('idle connections to the station port', held.station);
      assertClosedInTime('slow logins to the technician API', held.logins);
      assertClosedInTime('idle connections to the admin API', held.admin);
      const counts = await closedCounts(cluster);
      assert.equal(counts.get('station/address-limit'), 0);
      assert.ok((counts.get('station/handshake-timeout') ?? 0) >= attackSize, JSON.stringify([...counts]));
      const loginsClosed =
        (counts.get('technician/unauthenticated-timeout') ?? 0) +
        (counts.get('technician/body-too-slow') ?? 0);
      assert.ok(loginsClosed >= attackSize, JSON.stringify([...counts]));
      const agentMetrics = await fetch(`http://127.0.0.1:${cluster.adminPort}/metrics`, {
        headers: {
          authorization: `Bearer ${readFileSync(join(cluster.agentDir, 'admin-token'), 'utf8').trim()}`,
        },
      }).then((r) => r.text());
      const adminClosed =
        /lifeline_agent_connections_closed_total\{listener="admin",reason="unauthenticated-timeout"\} (\d+)/.exec(
          agentMetrics,
        );
      assert.ok(Number(adminClosed?.[1]) >= attackSize, agentMetrics);
    } finally {
      await cluster.close();
    }
  });
});

/** `openssl s_client` against a hub port; resolves with its exit code and output. */
function sClient(port: number, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    // ALPN h2, as an agent's call home and a technician's client offer it (the station port closes a
    // connection without ALPN right after its handshake).
    const child = spawn(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-alpn', 'h2', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
  });
}

describe('a station trickling its body, and TLS groups and signature algorithms on both hub ports', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start({ remote: false });
  });
  after(async () => {
    await cluster?.close();
  });

  test('a call-home body sent a byte every 100 ms, with the station certificate, is cut off with 408', async () => {
    const read = (name: string) => readFileSync(join(cluster.agentDir, name));
    const session = h2connect(`https://127.0.0.1:${cluster.stationPort}`, {
      ca: read('hub-ca.pem'),
      cert: read('station.pem'),
      key: read('station-key.pem'),
      servername: 'localhost',
    });
    session.on('error', () => undefined);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/v1/reports',
      'content-type': 'application/json',
      'content-length': '50000',
    });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    stream.on('error', () => undefined);
    const startedAtMs = Date.now();
    const trickle = setInterval(() => stream.writable && stream.write('x'), 100);
    try {
      await new Promise((resolve) => stream.once('close', resolve));
    } finally {
      clearInterval(trickle);
      session.destroy();
    }
    const tookMs = Date.now() - startedAtMs;
    assert.equal(status, 408, body);
    assert.match(body, /"code":"API_REQUEST_TIMEOUT"/);
    assert.match(body, /hub\.yaml connections\.minBodyBytesPerSecond/);
    assert.ok(tookMs < 15_000, `cut after ${tookMs} ms`);
  });

  for (const group of ['ffdhe2048', 'ffdhe8192', 'secp521r1', 'X448']) {
    test(`a client offering only ${group} fails the handshake on both ports`, async () => {
      for (const port of [cluster.stationPort, cluster.apiPort]) {
        const { code, output } = await sClient(port, ['-groups', group]);
        assert.notEqual(code, 0, `port ${port} accepted ${group}:\n${output}`);
        assert.match(output, /handshake failure|no suitable|alert/i);
      }
    });
  }

  test('the documented groups are accepted on both ports', async () => {
    for (const group of ['X25519', 'P-256', 'P-384'])
      for (const port of [cluster.stationPort, cluster.apiPort]) {
        const { code, output } = await sClient(port, ['-groups', group, '-brief']);
        assert.equal(code, 0, `port ${port} refused ${group}:\n${output}`);
        assert.match(output, /CONNECTION ESTABLISHED/);
      }
  });

  test('signature algorithms outside the documented ones are refused (TLS 1.2 on the technician API)', async () => {
    for (const sigalgs of ['ECDSA+SHA1', 'ECDSA+SHA512', 'ECDSA+SHA224']) {
      const { code, output } = await sClient(cluster.apiPort, ['-tls1_2', '-sigalgs', sigalgs]);
      assert.notEqual(code, 0, `${sigalgs} accepted:\n${output}`);
    }
    const { code, output } = await sClient(cluster.apiPort, [
      '-tls1_2',
      '-sigalgs',
      'ECDSA+SHA256',
      '-brief',
    ]);
    assert.equal(code, 0, output);
  });
});
