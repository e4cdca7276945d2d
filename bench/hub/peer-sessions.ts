// Session set-up through a peer node against a local one: two nodes of one cluster (`hub init
// --store`, `hub join`), an agent whose tunnel is on node A, and two technicians' `lifeline connect
// --listen` forwarders, one logged in to A (local) and one to B (B relays to A over the link
// between the nodes). Set-ups are timed as bench/tunnel times them, in alternating rounds so both
// see the same machine.

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '../tunnel/stats.js';
import { measureSetups, startEchoServer } from '../tunnel/echo.js';
import { freePorts, waitForListen, waitUntil } from '../tunnel/ports.js';
import { runLifeline, startLifeline } from '../tunnel/lifeline-setup.js';
import type { ProcessGroup } from '../tunnel/processes.js';

export interface PeerSessionFigures {
  sessions: number;
  localP50Ms: number;
  peerP50Ms: number;
  /** Through the peer over local. */
  ratio: number;
}

export interface PeerSessionLoad {
  /** Set-ups timed on each path. */
  sessions: number;
}

const stationIdPattern = /ST-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]/;

export async function measurePeerSessions(options: {
  group: ProcessGroup;
  dir: string;
  databaseUrl: string;
  load: PeerSessionLoad;
  log: (message: string) => void;
}): Promise<PeerSessionFigures> {
  const { group, dir, databaseUrl, load, log } = options;
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, LIFELINE_HOME: join(dir, 'home') };
  const echo = await startEchoServer();
  try {
    const [stationA, apiA, stationB, apiB, adminPort, localPort, peerPort] = (await freePorts(7)) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const nodeA = join(dir, 'node-a');
    const nodeB = join(dir, 'node-b');
    const at = (port: number) => `127.0.0.1:${port}`;
    await runLifeline(
      [
        'hub',
        'init',
        '--data',
        nodeA,
        '--store',
        databaseUrl,
        '--listen',
        at(stationA),
        '--api-listen',
        at(apiA),
        '--node-name',
        'a',
      ],
      { env },
    );
    await runLifeline(
      [
        'hub',
        'join',
        '--data',
        nodeB,
        '--store',
        databaseUrl,
        '--cluster-key-file',
        join(nodeA, 'cluster-key'),
        '--listen',
        at(stationB),
        '--api-listen',
        at(apiB),
        '--node-name',
        'b',
      ],
      { env },
    );
    for (const [name, nodeDir, port] of [
      ['a', nodeA, stationA],
      ['b', nodeB, stationB],
    ] as const) {
      const hub = startLifeline(group, `hub node ${name}`, ['hub', 'start', '--data', nodeDir], env);
      await waitForListen(port, `hub node ${name}`, { timeoutMs: 20_000, check: () => hub.assertRunning() });
    }

    const password = randomBytes(18).toString('base64url');
    await runLifeline(
      ['hub', 'user', 'add', 'tech', '--group', 'technicians', '--password-stdin', '--data', nodeA],
      {
        env,
        input: `${password}\n`,
      },
    );
    const agentDir = join(dir, 'agent');
    const tokenFile = join(dir, 'token');
    await runLifeline(['hub', 'token', 'create', '--data', nodeA, '--out', tokenFile], { env });
    const enrolled = await runLifeline(['agent', 'enroll', '--data', agentDir, '--token-file', tokenFile], {
      env,
    });
    const stationId = stationIdPattern.exec(enrolled)?.[0];
    if (stationId === undefined) throw new Error(`no Station ID in the output of agent enroll:\n${enrolled}`);
    await runLifeline(['agent', 'service', 'add', 'echo', '--port', String(echo.port), '--data', agentDir], {
      env,
    });
    const agent = startLifeline(
      group,
      'agent',
      ['agent', 'start', '--data', agentDir, '--admin-listen', at(adminPort)],
      env,
    );
    await waitForListen(adminPort, 'agent admin API', {
      timeoutMs: 20_000,
      check: () => agent.assertRunning(),
    });
    await runLifeline(['agent', 'remote', 'on', '--data', agentDir], { env });
    await runLifeline(['agent', 'access', 'full', '--data', agentDir], { env });
    await waitUntil(
      async () => {
        const nodes = JSON.parse(await runLifeline(['hub', 'nodes', '--data', nodeB, '--json'], { env })) as {
          name: string;
          stationsHeld: number;
        }[];
        return nodes.some((node) => node.name === 'a' && node.stationsHeld === 1);
      },
      'the tunnel on node A',
      { timeoutMs: 30_000, intervalMs: 200, check: () => agent.assertRunning() },
    );

    // One technician per node: the one on A opens sessions locally, the one on B through A.
    for (const [name, api, port] of [
      ['local', apiA, localPort],
      ['peer', apiB, peerPort],
    ] as const) {
      const home = { ...env, LIFELINE_HOME: join(dir, `technician-${name}`) };
      await runLifeline(
        [
          'login',
          '--hub',
          `https://${at(api)}`,
          '--user',
          'tech',
          '--password-stdin',
          '--ca-file',
          join(nodeA, 'ca.pem'),
        ],
        { env: home, input: `${password}\n` },
      );
      const connect = startLifeline(
        group,
        `connect through ${name}`,
        ['connect', stationId, '--service', 'echo', '--listen', at(port)],
        home,
      );
      await waitForListen(port, `connect through ${name}`, {
        timeoutMs: 20_000,
        check: () => connect.assertRunning(),
      });
    }

    const local: number[] = [];
    const peer: number[] = [];
    // Warm both paths (the first session through B dials the link to A).
    await measureSetups(localPort, 3);
    await measureSetups(peerPort, 3);
    const round = Math.max(1, Math.min(20, load.sessions));
    for (let done = 0; done < load.sessions; done += round) {
      const count = Math.min(round, load.sessions - done);
      local.push(...(await measureSetups(localPort, count)));
      peer.push(...(await measureSetups(peerPort, count)));
    }
    log(`peer sessions: ${local.length} set-ups on each path`);
    const localP50Ms = round3(percentile(local, 50));
    const peerP50Ms = round3(percentile(peer, 50));
    return { sessions: load.sessions, localP50Ms, peerP50Ms, ratio: peerP50Ms / localP50Ms };
  } finally {
    await echo.close();
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
