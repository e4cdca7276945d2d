// Where a CLI write goes: to the agent when one runs from the data directory, into agent.db when
// none does (never ran, its process ended, nothing listens at its address), and nowhere twice.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentPaths } from '../../agent/index.js';
import { offlineActor, viaAgentOrOffline } from './agent-writes.js';

const root = mkdtempSync(join(tmpdir(), 'lifeline-agent-writes-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

function dataDir(run?: { pid: number; port: number }): string {
  const dir = join(root, `agent-${++dirs}`);
  const paths = agentPaths(dir);
  mkdirSync(dir);
  writeFileSync(paths.adminToken, 'secret-token\n');
  if (run)
    writeFileSync(
      paths.runtime,
      JSON.stringify({ pid: run.pid, adminUrl: `http://127.0.0.1:${run.port}`, stationId: 'ST-TEST-TEST-0' }),
    );
  return dir;
}

/** An admin API stand-in: counts what it is asked, answers as told. */
async function fakeAgent(answer: (res: ServerResponse) => void) {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    assert.equal(req.headers.authorization, 'Bearer secret-token');
    answer(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => requests,
    close: () => new Promise((done) => server.close(done)),
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createTcpServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/** The pid of a process that has ended and been reaped. */
async function endedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'close');
  assert.ok(child.pid);
  return child.pid;
}

/** Writes through `viaAgentOrOffline`, telling which way it went; offline writes an audit entry. */
async function write(dir: string): Promise<{ way: 'agent' | 'offline'; entries: number }> {
  return viaAgentOrOffline<{ way: 'agent' | 'offline'; entries: number }>(
    dir,
    async (client) => {
      await client.request('PUT', '/v1/services/web', { port: 80 });
      return { way: 'agent', entries: 0 };
    },
    async ({ store, audit }) => {
      await audit.record(
        offlineActor,
        'service.add',
        { service: 'web' },
        {
          putService: { name: 'web', host: '127.0.0.1', port: 80 },
        },
      );
      return { way: 'offline', entries: (await store.listAudit()).length };
    },
  );
}

test('no agent ever ran here: the CLI writes agent.db itself, through the audit log', async () => {
  assert.deepEqual(await write(dataDir()), { way: 'offline', entries: 1 });
});

test('a running agent takes the write; agent.db is not touched by the CLI', async () => {
  const agent = await fakeAgent((res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
  );
  try {
    assert.deepEqual(await write(dataDir({ pid: process.pid, port: agent.port })), {
      way: 'agent',
      entries: 0,
    });
    assert.equal(agent.requests(), 1);
  } finally {
    await agent.close();
  }
});

test('the agent that ran has ended: its address is not asked (it may be another process now)', async () => {
  const other = await fakeAgent((res) => res.writeHead(401).end('{"code":"AUTH_REQUIRED","message":"no"}'));
  try {
    assert.deepEqual(await write(dataDir({ pid: await endedPid(), port: other.port })), {
      way: 'offline',
      entries: 1,
    });
    assert.equal(other.requests(), 0);
  } finally {
    await other.close();
  }
});

test('its process lives on but nothing listens at its address: the CLI writes itself', async () => {
  assert.deepEqual(await write(dataDir({ pid: process.pid, port: await closedPort() })), {
    way: 'offline',
    entries: 1,
  });
});

test('an agent that answers with an error, or drops the request, is not written around', async () => {
  const refusing = await fakeAgent((res) =>
    res.writeHead(507, { 'content-type': 'application/json' }).end('{"code":"STORE_FULL","message":"full"}'),
  );
  const dropping = await fakeAgent((res) => res.socket?.destroy());
  try {
    const full = dataDir({ pid: process.pid, port: refusing.port });
    await assert.rejects(write(full), { code: 'STORE_FULL' });
    const dropped = dataDir({ pid: process.pid, port: dropping.port });
    await assert.rejects(write(dropped), { code: 'API_UNREACHABLE' });
    assert.equal(dropping.requests(), 1);
    for (const dir of [full, dropped]) assert.equal(existsSync(agentPaths(dir).database), false);
  } finally {
    await refusing.close();
    await dropping.close();
  }
});
