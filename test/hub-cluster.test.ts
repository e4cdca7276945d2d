// Three hub nodes over one PostgreSQL database, as an operator sets them up: `hub init --store`,
// two `hub join`, an agent enrolled with a token made on node B whose hub addresses are the three
// station ports (it connects to A), and a technician logged in on node C. Sessions cross from C
// to the node holding the tunnel; disabling the technician on B ends a session held through C;
// killing A moves the agent to another node, loses no report and is shown by `hub nodes`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CliProcess,
  canConnect,
  cliPath,
  freePorts,
  mergeIntoYaml,
  runCli,
  waitFor,
  type CliResult,
} from './harness/cluster.js';
import { createTestDatabase, type TestDatabase } from './harness/postgres.js';
import { sshClientArgs, startSshd, type Sshd } from './harness/sshd.js';

interface Node {
  name: string;
  dir: string;
  stationPort: number;
  apiPort: number;
  process?: CliProcess;
}

interface NodeRow {
  name: string;
  state: string;
  stationsHeld: number;
}

const remoteCommand = 'echo lifeline-$((6*7))';

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

async function cli(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  const result = await runCli(args, options);
  if (result.code !== 0)
    throw new Error(`lifeline ${args.join(' ')} exited ${result.code}: ${result.stderr}${result.stdout}`);
  return result;
}

describe('three hub nodes over one PostgreSQL database', () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeline-hub-cluster-'));
  const agentDir = join(root, 'agent');
  let database: TestDatabase | undefined;
  let sshd: Sshd | undefined;
  let agent: CliProcess | undefined;
  let adminPort = 0;
  let stationId = '';
  const nodes: Node[] = [];
  const node = (name: string): Node => {
    const found = nodes.find((n) => n.name === name);
    if (!found) throw new Error(`no node ${name}`);
    return found;
  };
  const techEnv = (user: string): NodeJS.ProcessEnv => ({ LIFELINE_HOME: join(root, `home-${user}`) });

  async function startNode(n: Node): Promise<void> {
    const proc = new CliProcess(['hub', 'start', '--data', n.dir]);
    n.process = proc;
    await waitFor(`hub node ${n.name} to listen`, async () => {
      if (proc.child.exitCode !== null)
        throw new Error(`node ${n.name} exited: ${proc.stderr}${proc.stdout}`);
      return (await canConnect(n.apiPort)) && (await canConnect(n.stationPort));
    });
  }

  async function listNodes(from: Node): Promise<NodeRow[]> {
    return JSON.parse((await cli(['hub', 'nodes', '--data', from.dir, '--json'])).stdout) as NodeRow[];
  }

  async function admin(method: string, path: string, body?: unknown): Promise<unknown> {
    const token = readFileSync(join(agentDir, 'admin-token'), 'utf8').trim();
    const response = await fetch(`http://127.0.0.1:${adminPort}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  }

  async function technician(user: string, on: Node): Promise<NodeJS.ProcessEnv> {
    await cli(['hub', 'user', 'add', user, '--group', 'technicians', '--password-stdin', '--data', on.dir], {
      input: `${user}-password-1\n`,
    });
    const env = techEnv(user);
    await cli(
      [
        'login',
        '--hub',
        `https://127.0.0.1:${node('C').apiPort}`,
        '--user',
        user,
        '--password-stdin',
        '--ca-file',
        join(node('A').dir, 'ca.pem'),
      ],
      { input: `${user}-password-1\n`, env },
    );
    return env;
  }

  /** ssh to the appliance's sshd with `lifeline connect --stdio` as its ProxyCommand. */
  function ssh(env: NodeJS.ProcessEnv, command: string): { done: Promise<CliResult>; kill: () => void } {
    if (!sshd) throw new Error('no sshd');
    const proxyCommand = [process.execPath, cliPath, 'connect', stationId, '--service', 'ssh', '--stdio']
      .map(shellQuote)
      .join(' ');
    const child = spawn(
      'ssh',
      [...sshClientArgs(sshd), '-o', `ProxyCommand=${proxyCommand}`, `${sshd.user}@127.0.0.1`, command],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const done = new Promise<CliResult>((resolve) =>
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      }),
    );
    return { done, kill: () => child.kill('SIGKILL') };
  }

  async function heldBy(): Promise<string | undefined> {
    const rows = await listNodes(node('C'));
    return rows.find((row) => row.state === 'up' && row.stationsHeld === 1)?.name;
  }

  before(async () => {
    database = await createTestDatabase('lifeline_cluster');
    sshd = await startSshd();
    const ports = await freePorts(7);
    for (const [i, name] of ['A', 'B', 'C'].entries())
      nodes.push({
        name,
        dir: join(root, `node-${name}`),
        stationPort: ports[2 * i] ?? 0,
        apiPort: ports[2 * i + 1] ?? 0,
      });
    adminPort = ports[6] ?? 0;
    const [a, b, c] = [node('A'), node('B'), node('C')];
    const flags = (n: Node) => [
      '--listen',
      `127.0.0.1:${n.stationPort}`,
      '--api-listen',
      `127.0.0.1:${n.apiPort}`,
      '--node-name',
      `node-${n.name}`,
    ];
    await cli(['hub', 'init', '--data', a.dir, '--store', database.url, ...flags(a)]);
    for (const n of [b, c])
      await cli([
        'hub',
        'join',
        '--data',
        n.dir,
        '--store',
        database.url,
        '--cluster-key-file',
        join(a.dir, 'cluster-key'),
        ...flags(n),
      ]);
    for (const n of nodes) await startNode(n);

    // The token is made on node B; the agent enrolls there and then lists all three nodes, A first.
    const tokenFile = join(root, 'token');
    await cli(['hub', 'token', 'create', '--data', b.dir, '--out', tokenFile]);
    const enrolled = await cli(['agent', 'enroll', '--data', agentDir, '--token-file', tokenFile]);
    stationId = /Station ID: (ST-[0-9A-Z-]+)/.exec(enrolled.stdout)?.[1] ?? '';
    assert.ok(stationId, enrolled.stdout);
    mergeIntoYaml(join(agentDir, 'agent.yaml'), {
      hub: { endpoints: nodes.map((n) => `127.0.0.1:${n.stationPort}`) },
    });
    await cli([
      'agent',
      'service',
      'add',
      'ssh',
      '--port',
      String(sshd.port),
      '--host',
      '127.0.0.1',
      '--data',
      agentDir,
    ]);
    agent = new CliProcess([
      'agent',
      'start',
      '--data',
      agentDir,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
    ]);
    const started = agent;
    await waitFor('the agent admin API', async () => {
      if (started.child.exitCode !== null) throw new Error(`agent exited: ${started.stderr}`);
      return admin('GET', '/v1/status').catch(() => undefined);
    });
    await cli(['agent', 'access', 'full', '--data', agentDir]);
    await cli(['agent', 'remote', 'on', '--data', agentDir]);
    await waitFor(
      'the tunnel to node A',
      async () => ((await heldBy()) === 'node-A' ? true : undefined),
      20_000,
    );
  });

  after(async () => {
    await agent?.stop('SIGKILL');
    await Promise.all(nodes.map((n) => n.process?.stop('SIGKILL') ?? Promise.resolve(0)));
    await sshd?.close();
    await database?.drop();
    rmSync(root, { recursive: true, force: true });
  });

  test('hub nodes lists the three nodes up; the agent holds its tunnel on A', async () => {
    const rows = await listNodes(node('B'));
    assert.deepEqual(rows.map((row) => [row.name, row.state]).sort(), [
      ['node-A', 'up'],
      ['node-B', 'up'],
      ['node-C', 'up'],
    ]);
    assert.equal(rows.find((row) => row.name === 'node-A')?.stationsHeld, 1);
  });

  test("ssh through node C reaches the appliance's sshd over node A's tunnel", async () => {
    const env = await technician('tech', node('C'));
    const result = await ssh(env, remoteCommand).done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'lifeline-42\n');
    // The session is the hub's like any other: recorded once, in the shared store.
    const sessions = JSON.parse((await cli(['hub', 'audit', '--json', '--data', node('B').dir])).stdout) as {
      action: string;
      detail: { user?: string; service?: string };
    }[];
    assert.ok(
      sessions.some(
        (e) => e.action === 'session.start' && e.detail.user === 'tech' && e.detail.service === 'ssh',
      ),
    );
  });

  test("disabling the technician on node B ends the technician's session held through node C within 2 s", async () => {
    const env = await technician('tech2', node('B'));
    const session = ssh(env, 'echo started; sleep 30; echo not-ended');
    await waitFor('the ssh session to run', async () => {
      const audit = JSON.parse((await cli(['hub', 'audit', '--json', '--data', node('A').dir])).stdout) as {
        action: string;
        detail: { user?: string };
      }[];
      return audit.some((e) => e.action === 'session.start' && e.detail.user === 'tech2') ? true : undefined;
    });
    await cli(['hub', 'user', 'disable', 'tech2', '--data', node('B').dir]);
    const result = await session.done;
    assert.doesNotMatch(result.stdout, /not-ended/);
    const audit = JSON.parse((await cli(['hub', 'audit', '--json', '--data', node('C').dir])).stdout) as {
      action: string;
      atMs: number;
      detail: { user?: string; endReason?: string; name?: string };
    }[];
    const disabled = audit.find(
      (e) => e.action === 'user.disable' && (e.detail.name === 'tech2' || e.detail.user === 'tech2'),
    );
    const ended = audit.find((e) => e.action === 'session.end' && e.detail.endReason === 'user-disabled');
    assert.ok(disabled, 'the disable is audited');
    assert.ok(
      ended,
      `the session ended as user-disabled: ${JSON.stringify(audit.filter((e) => e.action === 'session.end'))}`,
    );
    assert.ok(ended.atMs - disabled.atMs <= 2000, `ended ${ended.atMs - disabled.atMs} ms after the disable`);
  });

  test('1,000 problem reports with node A killed mid-stream are each stored once; the agent moves on within 15 s; node B shows A gone', async () => {
    const a = node('A');
    const opened = new Set<string>();
    let killedAtMs = 0;
    for (let i = 0; i < 1000; i++) {
      const answer = (await admin('POST', '/v1/problems', {
        summary: `fan ${i} failed`,
        severity: 'minor',
      })) as { localId: string };
      opened.add(answer.localId);
      if (i === 300) {
        killedAtMs = Date.now();
        await a.process?.stop('SIGKILL');
      }
    }
    assert.equal(opened.size, 1000);
    await waitFor(
      'the agent on node B or C',
      async () => {
        const holder = await heldBy();
        return holder === 'node-B' || holder === 'node-C' ? holder : undefined;
      },
      20_000,
    );
    // When the tunnel came up again, by the hub's own audit entry (the node that took it wrote it).
    const audit = JSON.parse((await cli(['hub', 'audit', '--json', '--data', node('B').dir])).stdout) as {
      action: string;
      atMs: number;
      stationId: string | null;
    }[];
    const back = audit.find(
      (e) => e.action === 'tunnel.connected' && e.stationId === stationId && e.atMs > killedAtMs,
    );
    assert.ok(back, 'the tunnel came up again on another node');
    assert.ok(back.atMs - killedAtMs <= 15_000, `reconnected ${back.atMs - killedAtMs} ms after node A died`);

    const problems = await waitFor(
      'all 1,000 problems at the hub',
      async () => {
        const listed = JSON.parse(
          (await cli(['hub', 'problems', '--json', '--data', node('C').dir])).stdout,
        ) as {
          localId: string;
          number: string;
        }[];
        return listed.length >= 1000 ? listed : undefined;
      },
      60_000,
    );
    assert.equal(problems.length, 1000);
    assert.deepEqual(new Set(problems.map((p) => p.localId)), opened);
    assert.equal(new Set(problems.map((p) => p.number)).size, 1000, 'one problem number each');
    const stored = await database?.query(
      `select count(*)::int as n from reports where kind = 'problem.open'`,
    );
    assert.equal((stored?.rows[0] as { n: number } | undefined)?.n, 1000, 'each report stored once');

    const env = techEnv('tech');
    const result = await ssh(env, remoteCommand).done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'lifeline-42\n');

    const gone = await waitFor(
      'node B to show A as gone',
      async () => {
        const rows = await listNodes(node('B'));
        return rows.find((row) => row.name === 'node-A' && row.state === 'gone');
      },
      25_000,
    );
    assert.equal(gone.stationsHeld, 0, 'the station is held by the node it moved to');
  });

  test('a node drained and restarted (SIGTERM) while the others hold a session and take reports: the session goes on, no report is lost', async () => {
    await startNode(node('A'));
    await waitFor('node A up again', async () =>
      (await listNodes(node('B'))).find((row) => row.name === 'node-A' && row.state === 'up'),
    );
    const holder = (await heldBy()) ?? '';
    // A node neither holding the tunnel nor serving the technician (who is logged in to C).
    const restarted = nodes.find((n) => `node-${n.name}` !== holder && n.name !== 'C');
    assert.ok(restarted, `holder ${holder}`);
    const sessionStarts = async (): Promise<number> =>
      (
        JSON.parse((await cli(['hub', 'audit', '--json', '--data', node('C').dir])).stdout) as {
          action: string;
        }[]
      ).filter((e) => e.action === 'session.start').length;
    const startsBefore = await sessionStarts();
    const session = ssh(techEnv('tech'), 'echo started; sleep 6; echo survived');
    await waitFor('the session to start', async () =>
      (await sessionStarts()) > startsBefore ? true : undefined,
    );
    const before = await database?.query(
      `select count(*)::int as n from reports where kind = 'problem.open'`,
    );
    const drained = restarted.process?.stop('SIGTERM');
    const opened = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const answer = (await admin('POST', '/v1/problems', {
        summary: `disk ${i} slow`,
        severity: 'minor',
      })) as {
        localId: string;
      };
      opened.add(answer.localId);
    }
    assert.equal(await drained, 0, 'a drained node exits 0');
    await startNode(restarted);
    const result = await session.done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'started\nsurvived\n');
    const expected = ((before?.rows[0] as { n: number } | undefined)?.n ?? 0) + opened.size;
    await waitFor('every report stored', async () => {
      const stored = await database?.query(
        `select count(*)::int as n from reports where kind = 'problem.open'`,
      );
      return (stored?.rows[0] as { n: number } | undefined)?.n === expected ? true : undefined;
    });
    await waitFor(`node ${restarted.name} up again`, async () =>
      (await listNodes(node('C'))).find((row) => row.name === `node-${restarted.name}` && row.state === 'up'),
    );
  });

  test('a rotation started on node A reaches B and C within 2 s; after the ticket-key overlap every node signs with the new key', async () => {
    const [a, b, c] = [node('A'), node('B'), node('C')];
    const readIn = (dir: string, name: string): string | undefined => {
      try {
        return readFileSync(join(dir, name), 'utf8');
      } catch {
        return undefined;
      }
    };
    const read = (n: Node, name: string) => readIn(n.dir, name);
    await cli(['hub', 'rotate', 'ticket-key', '--overlap', '20s', '--data', a.dir]);
    await cli(['hub', 'rotate', 'ca', '--overlap', '1h', '--data', a.dir]);
    const rotatedAtMs = Date.now();
    const nextKey = read(a, 'ticket-pub-next.pem');
    const nextCa = read(a, 'ca-next.pem');
    const rotation = read(a, 'rotation.json');
    assert.ok(nextKey && nextCa && rotation);
    // rotation.json is the last file a node writes when it takes a rotation.
    await waitFor(
      'nodes B and C to take the rotation',
      async () => ([b, c].every((n) => read(n, 'rotation.json') === rotation) ? true : undefined),
      5000,
      100,
    );
    const tookMs = Date.now() - rotatedAtMs;
    for (const n of [b, c]) {
      assert.equal(read(n, 'ticket-pub-next.pem'), nextKey);
      assert.equal(read(n, 'ca-next.pem'), nextCa);
    }
    // Each node's next server certificate is its own, from the next CA.
    for (const n of [b, c]) {
      const serverNext = new X509Certificate(read(n, 'server-next.pem') ?? '');
      assert.ok(serverNext.checkIssued(new X509Certificate(nextCa)), `node ${n.name}'s next certificate`);
      assert.notEqual(read(n, 'server-next.pem'), read(a, 'server-next.pem'));
    }
    assert.ok(tookMs <= 2000, `the other nodes took the rotation ${tookMs} ms after it was pushed`);

    // An agent that calls home during the overlap pins both ticket keys, whichever node it reaches.
    await agent?.stop();
    agent = new CliProcess([
      'agent',
      'start',
      '--data',
      agentDir,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
    ]);
    await waitFor('the agent to pin both ticket keys', async () => {
      const pinned =
        read({ name: 'agent', dir: agentDir, stationPort: 0, apiPort: 0 }, 'hub-ticket-key.pem') ?? '';
      return pinned.match(/BEGIN PUBLIC KEY/g)?.length === 2 ? true : undefined;
    });
    await waitFor('the tunnel again', async () => ((await heldBy()) ? true : undefined), 20_000);

    // After the overlap every node has finished it and signs with the new key: a session through C
    // is admitted by the agent, which now knows both keys.
    await waitFor(
      'every node to switch to the new ticket key',
      async () =>
        nodes.every(
          (n) => read(n, 'ticket-pub.pem') === nextKey && read(n, 'ticket-pub-next.pem') === undefined,
        )
          ? true
          : undefined,
      40_000,
      250,
    );
    const result = await ssh(techEnv('tech'), remoteCommand).done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'lifeline-42\n');
  });
});
