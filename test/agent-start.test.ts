// `lifeline agent start` whose admin address is taken: the real command exits by itself, says which
// address it could not listen on, and leaves nothing behind: no process, and an agent.db that the
// next start (on a free address) opens as usual.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { CliProcess, Cluster, freePort } from './harness/cluster.js';

/** How long the command may take to give up and exit: start-up, then closing what it opened. */
const exitWithinMs = 20_000;

describe('an agent whose admin address is taken', () => {
  let cluster: Cluster;
  let taken: Server;

  before(async () => {
    // Enrolled, remote service on and the tunnel up once: the next start has everything to run.
    cluster = await Cluster.start({ remote: true });
    assert.equal(await cluster.stopAgent(), 0);
    taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
  });

  after(async () => {
    taken?.close();
    await cluster?.close();
  });

  test('exits by itself with an error naming the address, and the next start on a free address runs', async () => {
    const { port } = taken.address() as AddressInfo;
    const agent = cluster.track(
      new CliProcess(['agent', 'start', '--data', cluster.agentDir, '--admin-listen', `127.0.0.1:${port}`]),
    );
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      agent.exited,
      new Promise<'still running'>(
        (resolve) => (timer = setTimeout(() => resolve('still running'), exitWithinMs)),
      ),
    ]);
    clearTimeout(timer);
    if (exit === 'still running') {
      await agent.stop('SIGKILL');
      assert.fail(`the agent was still running ${exitWithinMs} ms after it failed to start: ${agent.stderr}`);
    }
    assert.equal(exit, 1, agent.stderr);
    assert.match(
      agent.stderr,
      new RegExp(
        `lifeline: the admin API cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use .*\\(API_LISTEN_FAILED\\)`,
      ),
    );
    // The runtime file (the CLI's way to the agent) still names the last agent that ran, not this one.
    const runtime = join(cluster.agentDir, 'agent.run.json');
    assert.ok(existsSync(runtime));
    assert.doesNotMatch(readFileSync(runtime, 'utf8'), new RegExp(`:${port}\\b`));

    // agent.db is neither locked nor damaged: the chain verifies, and the agent starts on a free port.
    const verify = await cluster.cli(['agent', 'audit', '--verify', '--data', cluster.agentDir]);
    assert.match(verify.stdout, /Audit log chain verified/);
    cluster.adminPort = await freePort();
    await cluster.startAgent();
    await cluster.waitForTunnel();
    const audit = JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as { action: string }[];
    // The failed start recorded its start and, closing, its stop; the second start follows them.
    const lifecycle = audit.map((e) => e.action).filter((action) => /^agent\.(start|stop)$/.test(action));
    assert.deepEqual(lifecycle.slice(-3), ['agent.start', 'agent.stop', 'agent.start']);
    assert.equal(await cluster.stopAgent(), 0);
  });
});
