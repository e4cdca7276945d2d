// The Lifeline leg: a hub, an enrolled agent offering the targets as services, and one technician
// `lifeline connect` listener per service, all through the real CLI with fresh data directories.

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePorts, waitForListen, waitUntil } from './ports.js';
import { ProcessGroup, runCommand, type Tracked } from './processes.js';

export const repoRoot = resolve(import.meta.dirname, '../..');
const cliPath = join(repoRoot, 'bin', 'lifeline.js');
const stationIdPattern = /ST-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]/;

export interface LifelineTunnel<Name extends string> {
  /** For each target, the technician's local port: each connection to it is a new session. */
  forwardPort: Record<Name, number>;
  stationId: string;
  /** The hub process, e.g. to read its memory. */
  hubPid: number;
  close(): Promise<void>;
}

/** Runs one `lifeline` sub-command to completion; resolves with its stdout. */
export function runLifeline(
  args: string[],
  options: { env: NodeJS.ProcessEnv; input?: string },
): Promise<string> {
  return runCommand(process.execPath, [cliPath, ...args], { ...options, cwd: repoRoot, timeoutMs: 60_000 });
}

/** Starts a long-running `lifeline` sub-command in `group`. */
export function startLifeline(
  group: ProcessGroup,
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Tracked {
  // BENCH_CPU_PROF=DIR writes a V8 CPU profile of every long-running process into DIR.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  return group.start(name, process.execPath, [...profile, cliPath, ...args], { cwd: repoRoot, env });
}

export interface HubHandle {
  hubDir: string;
  stationPort: number;
  apiPort: number;
  process: Tracked;
}

/**
 * `hub init` and `hub start`; resolves once the station port listens. `beforeStart` runs between
 * the two, when the data directory exists but no hub process holds it. `initArgs` go to `hub init`
 * after the data directory and ports (e.g. `--store postgres://...`).
 */
export async function startHub(
  group: ProcessGroup,
  dir: string,
  env: NodeJS.ProcessEnv,
  beforeStart?: (hubDir: string) => Promise<void>,
  initArgs: readonly string[] = [],
): Promise<HubHandle> {
  const hubDir = join(dir, 'hub');
  const [stationPort, apiPort] = (await freePorts(2)) as [number, number];
  await runLifeline(
    [
      'hub',
      'init',
      '--data',
      hubDir,
      '--listen',
      `127.0.0.1:${stationPort}`,
      '--api-listen',
      `127.0.0.1:${apiPort}`,
      ...initArgs,
    ],
    { env },
  );
  await beforeStart?.(hubDir);
  const hub = startLifeline(group, 'lifeline hub', ['hub', 'start', '--data', hubDir], env);
  const check = (): void => hub.assertRunning();
  await waitForListen(stationPort, 'hub station listener', { timeoutMs: 20_000, check });
  await waitForListen(apiPort, 'hub API', { timeoutMs: 20_000, check });
  return { hubDir, stationPort, apiPort, process: hub };
}

export async function setupLifeline<Name extends string>(
  dir: string,
  targets: Record<Name, number>,
): Promise<LifelineTunnel<Name>> {
  const group = new ProcessGroup();
  try {
    return await startAll(group, dir, targets);
  } catch (err) {
    await group.close();
    throw err;
  }
}

async function startAll<Name extends string>(
  group: ProcessGroup,
  dir: string,
  targets: Record<Name, number>,
): Promise<LifelineTunnel<Name>> {
  const technicianHome = join(dir, 'technician');
  const agentDir = join(dir, 'agent');
  mkdirSync(technicianHome, { recursive: true });
  // Every CLI run gets LIFELINE_HOME, so nothing is read from or written to the real home directory.
  const env = { ...process.env, LIFELINE_HOME: technicianHome };
  const password = randomBytes(18).toString('base64url');

  const hub = await startHub(group, dir, env);
  const { hubDir } = hub;
  await runLifeline(
    ['hub', 'user', 'add', 'tech', '--group', 'technicians', '--password-stdin', '--data', hubDir],
    {
      env,
      input: `${password}\n`,
    },
  );
  const tokenFile = join(dir, 'enroll.token');
  await runLifeline(['hub', 'token', 'create', '--data', hubDir, '--out', tokenFile], { env });

  const enrolled = await runLifeline(['agent', 'enroll', '--data', agentDir, '--token-file', tokenFile], {
    env,
  });
  const stationId = stationIdPattern.exec(enrolled)?.[0];
  if (stationId === undefined) throw new Error(`no Station ID in the output of agent enroll:\n${enrolled}`);
  const names = Object.keys(targets) as Name[];
  for (const name of names) {
    await runLifeline(
      ['agent', 'service', 'add', name, '--port', String(targets[name]), '--data', agentDir],
      { env },
    );
  }

  const ports = await freePorts(names.length + 1);
  const adminPort = ports[names.length] ?? 0;
  const agent = startLifeline(
    group,
    'lifeline agent',
    ['agent', 'start', '--data', agentDir, '--admin-listen', `127.0.0.1:${adminPort}`],
    env,
  );
  const agentCheck = (): void => {
    agent.assertRunning();
    hub.process.assertRunning();
  };
  await waitForListen(adminPort, 'agent admin API', { timeoutMs: 20_000, check: agentCheck });
  await runLifeline(['agent', 'remote', 'on', '--data', agentDir], { env });
  await runLifeline(['agent', 'access', 'full', '--data', agentDir], { env });
  await waitUntil(() => isTunnelConnected(agentDir, env), 'the agent tunnel to connect', {
    timeoutMs: 30_000,
    intervalMs: 200,
    check: agentCheck,
  });

  await runLifeline(
    [
      'login',
      '--hub',
      `https://127.0.0.1:${hub.apiPort}`,
      '--user',
      'tech',
      '--password-stdin',
      '--ca-file',
      join(hubDir, 'ca.pem'),
    ],
    { env, input: `${password}\n` },
  );
  const forwardPort = {} as Record<Name, number>;
  for (const [index, name] of names.entries()) {
    const port = ports[index] ?? 0;
    forwardPort[name] = port;
    const connect = startLifeline(
      group,
      `lifeline connect ${name}`,
      ['connect', stationId, '--service', name, '--listen', `127.0.0.1:${port}`],
      env,
    );
    await waitForListen(port, `lifeline connect ${name}`, {
      timeoutMs: 20_000,
      check: () => {
        connect.assertRunning();
        agentCheck();
      },
    });
  }
  return { forwardPort, stationId, hubPid: hub.process.pid, close: () => group.close() };
}

async function isTunnelConnected(agentDir: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const text = await runLifeline(['agent', 'status', '--data', agentDir, '--json'], { env });
  const status = JSON.parse(text) as { tunnel?: { state?: unknown } };
  return status.tunnel?.state === 'connected';
}
