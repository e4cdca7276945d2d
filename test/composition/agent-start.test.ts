// Agent.start and Agent.close in one process, on a data directory laid out as enrollment leaves it
// (a station certificate from a CA made here, a hub address where nothing listens). Every timer,
// socket and server the agent makes is tracked (async_hooks): a start that fails must leave none
// behind, and neither may a close.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LifelineError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { createCa, createKeyAndCsr, createTicketKeyPair, signStationCsr } from '../../src/pki/index.js';
import { Agent } from '../../src/agent/index.js';
import { agentPaths } from '../../src/agent/index.js';
import { AgentStore, settingKeys } from '../../src/agent/store/index.js';

const stationId = 'ST-7KQ3-9XPM-4';

/** A data directory as `lifeline agent enroll` leaves it, for a hub at `hub` (where nothing need listen). */
async function enrolledDir(hub: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-agent-start-'));
  const paths = agentPaths(dir);
  const ca = await createCa('test hub CA', 86_400_000);
  const { keyPem, csrPem } = await createKeyAndCsr('lifeline-station');
  writeFileSync(paths.stationKey, keyPem, { mode: 0o600 });
  writeFileSync(paths.stationCert, await signStationCsr(ca, csrPem, stationId, 86_400_000));
  writeFileSync(paths.hubCa, ca.certPem);
  writeFileSync(paths.hubTicketKey, createTicketKeyPair().publicKeyPem);
  writeFileSync(paths.adminToken, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  writeFileSync(paths.config, `hub:\n  endpoints: ['${hub}']\nadmin:\n  listen: 127.0.0.1:8080\n`);
  const store = await AgentStore.open(paths.database);
  await store.setSetting(settingKeys.stationId, stationId);
  await store.close();
  return dir;
}

async function listening(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/**
 * Resource types that hold nothing open: promises, immediates (they run on the next turn of the
 * event loop, this tracker's own among them), and the event-loop delay histogram prom-client's
 * process metrics enable for each registry and never disable (it keeps no process alive).
 */
const untracked = new Set(['PROMISE', 'Immediate', 'ELDHISTOGRAM']);

/** The asynchronous resources (timers, sockets, servers, file requests...) made from now on and not yet destroyed. */
function trackResources() {
  const live = new Map<number, string>();
  const hook = createHook({
    init: (id, type) => {
      if (!untracked.has(type)) live.set(id, type);
    },
    destroy: (id) => void live.delete(id),
  }).enable();
  return {
    /** Waits until none is left, at most `withinMs`; returns the types of those still left. */
    async leftAfter(withinMs: number): Promise<string[]> {
      const deadline = Date.now() + withinMs;
      // Handles are destroyed on a later turn of the event loop than their close(): let it turn.
      while (live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      hook.disable();
      return [...live.values()].sort();
    },
  };
}

describe('Agent.start and Agent.close', () => {
  let hubGone: number;
  let dir: string;

  before(async () => {
    // The hub's address: a port that was free a moment ago, where nothing listens now.
    const probe = createServer();
    hubGone = await listening(probe);
    probe.close();
    dir = await enrolledDir(`127.0.0.1:${hubGone}`);
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('an admin address in use fails the start naming it, and closes everything opened before', async () => {
    const taken = createServer();
    const port = await listening(taken);
    try {
      const resources = trackResources();
      const failed = await Agent.start({
        dataDir: dir,
        adminListen: `127.0.0.1:${port}`,
        logger: silentLogger(),
      }).then(
        () => assert.fail('the agent started on a port in use'),
        (err: unknown) => err,
      );
      assert.ok(failed instanceof LifelineError, String(failed));
      assert.equal(failed.code, 'API_LISTEN_FAILED');
      assert.match(failed.message, new RegExp(`the admin API cannot listen on 127\\.0\\.0\\.1:${port}: `));
      assert.match(failed.message, /the address is in use/);
      assert.deepEqual(await resources.leftAfter(5000), [], 'timers, sockets or servers left behind');
    } finally {
      taken.close();
    }
    // agent.db was closed: it opens again, and its log says the agent started and stopped.
    const store = await AgentStore.open(agentPaths(dir).database);
    try {
      const actions = (await store.listAudit()).map((e) => e.action);
      assert.deepEqual(actions.slice(-2), ['agent.start', 'agent.stop']);
    } finally {
      await store.close();
    }
  });

  test('a start on a free address runs; close() ends it with nothing left running', async () => {
    const resources = trackResources();
    const agent = await Agent.start({ dataDir: dir, adminListen: '127.0.0.1:0', logger: silentLogger() });
    const health = await fetch(`${agent.adminUrl}/health`);
    assert.equal(health.status, 200);
    await health.arrayBuffer();
    await agent.close();
    await agent.close();
    assert.deepEqual(await resources.leftAfter(5000), [], 'timers, sockets or servers left behind');
    const store = await AgentStore.open(agentPaths(dir).database);
    try {
      assert.equal((await store.listAudit()).at(-1)?.action, 'agent.stop');
    } finally {
      await store.close();
    }
  });
});
