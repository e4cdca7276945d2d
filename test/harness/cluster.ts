// A hub, an agent and a technician as separate processes of the real `lifeline` command (built
// into dist/ by `npm run build`), on loopback ports, in a fresh temporary directory.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';

export const repoRoot = resolve(import.meta.dirname, '..', '..');
export const cliPath = join(repoRoot, 'bin', 'lifeline.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `patch` merged into the YAML file at `path` (objects key by key; anything else replaced). */
export function mergeIntoYaml(path: string, patch: Record<string, unknown>): void {
  const merge = (into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> => {
    for (const [key, value] of Object.entries(from)) {
      const current = into[key];
      into[key] = isPlainObject(value) && isPlainObject(current) ? merge({ ...current }, value) : value;
    }
    return into;
  };
  const current: unknown = parseYaml(readFileSync(path, 'utf8'));
  writeFileSync(path, toYaml(merge(isPlainObject(current) ? current : {}, patch)));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  return port;
}

/**
 * `count` different free ports: all are held open while the next is taken, since a port just
 * released can come back from the very next request (a hub once got the same port for its station
 * and technician listeners).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    for (const server of servers) await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return servers.map((server) => (server.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  }
}

/** Waits until `check` returns a value, polling every `everyMs`, failing after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((done) => setTimeout(done, everyMs));
  }
  throw new Error(
    `timed out waiting for ${what}${lastError ? `: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}` : ''}`,
  );
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

export function runCli(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`lifeline ${args.join(' ')} did not finish; stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running `lifeline` process (hub start, agent start, connect --listen). */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [cliPath, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((done) =>
      this.child.once('close', (code, signal) => done(code ?? (signal ? 128 : -1))),
    );
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** An answer of the hub's technician API: status, headers and body text. */
export interface HubAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface AgentStatusJson {
  stationId: string;
  remoteEnabled: boolean;
  accessLevel: string;
  activeSessions: number;
  pendingRequests: number;
  tunnel: { state: string; sinceMs: number; lastError: string | null };
}

export class Cluster {
  readonly root: string;
  readonly hubDir: string;
  readonly agentDir: string;
  readonly techHome: string;
  stationPort = 0;
  apiPort = 0;
  adminPort = 0;
  stationId = '';
  hub: CliProcess | undefined;
  agent: CliProcess | undefined;
  readonly #extra = new Set<CliProcess>();

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'lifeline-test-'));
    this.hubDir = join(this.root, 'hub');
    this.agentDir = join(this.root, 'agent');
    this.techHome = join(this.root, 'technician');
  }

  get hubUrl(): string {
    return `https://127.0.0.1:${this.apiPort}`;
  }

  get techEnv(): NodeJS.ProcessEnv {
    return { LIFELINE_HOME: this.techHome };
  }

  /** Fails the test with the command's output if it did not exit 0. */
  async cli(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const result = await runCli(args, options);
    if (result.code !== 0)
      throw new Error(`lifeline ${args.join(' ')} exited ${result.code}: ${result.stderr}${result.stdout}`);
    return result;
  }

  /**
   * When the agent took a command: the time of its first audit entry `action` at or after
   * `sinceMs`. Timing a reaction from there leaves out the CLI process's own start-up, which on a
   * loaded machine is not the agent's doing.
   */
  async agentAuditedAt(action: string, sinceMs: number): Promise<number> {
    const audit = await this.cli(['agent', 'audit', '--json', '--data', this.agentDir]);
    const entries = JSON.parse(audit.stdout) as { action: string; atMs: number }[];
    const entry = entries.find((e) => e.action === action && e.atMs >= sinceMs - 5);
    if (!entry) throw new Error(`the agent audited no ${action} since ${new Date(sinceMs).toISOString()}`);
    return entry.atMs;
  }

  async initHub(): Promise<void> {
    [this.stationPort = 0, this.apiPort = 0] = await freePorts(2);
    await this.cli([
      'hub',
      'init',
      '--data',
      this.hubDir,
      '--listen',
      `127.0.0.1:${this.stationPort}`,
      '--api-listen',
      `127.0.0.1:${this.apiPort}`,
    ]);
  }

  async startHub(): Promise<void> {
    this.hub = new CliProcess(['hub', 'start', '--data', this.hubDir]);
    const hub = this.hub;
    await waitFor('the hub to listen', async () => {
      if (hub.child.exitCode !== null) throw new Error(`hub exited: ${hub.stderr}${hub.stdout}`);
      return (await canConnect(this.apiPort)) && (await canConnect(this.stationPort));
    });
  }

  async stopHub(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    const code = (await this.hub?.stop(signal)) ?? 0;
    this.hub = undefined;
    return code;
  }

  async addUser(name: string, password: string, group = 'technicians'): Promise<void> {
    await this.cli(
      ['hub', 'user', 'add', name, '--group', group, '--password-stdin', '--data', this.hubDir],
      { input: password + '\n' },
    );
  }

  async createToken(ttl = '15m'): Promise<string> {
    const out = join(this.root, `token-${Date.now()}-${Math.random().toString(16).slice(2)}`);
    await this.cli(['hub', 'token', 'create', '--data', this.hubDir, '--ttl', ttl, '--out', out]);
    return out;
  }

  async enroll(dataDir = this.agentDir): Promise<string> {
    const tokenFile = await this.createToken();
    const result = await this.cli(['agent', 'enroll', '--data', dataDir, '--token-file', tokenFile]);
    const match = /Station ID: (ST-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z])/.exec(result.stdout);
    if (!match?.[1]) throw new Error(`no Station ID in: ${result.stdout}`);
    if (dataDir === this.agentDir) this.stationId = match[1];
    return match[1];
  }

  async addService(name: string, port: number, host = '127.0.0.1'): Promise<void> {
    await this.cli([
      'agent',
      'service',
      'add',
      name,
      '--port',
      String(port),
      '--host',
      host,
      '--data',
      this.agentDir,
    ]);
  }

  async startAgent(): Promise<void> {
    this.adminPort = this.adminPort || (await freePort());
    this.agent = new CliProcess([
      'agent',
      'start',
      '--data',
      this.agentDir,
      '--admin-listen',
      `127.0.0.1:${this.adminPort}`,
    ]);
    const agent = this.agent;
    await waitFor('the agent admin API', async () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.stderr}${agent.stdout}`);
      return this.agentStatus().catch(() => undefined);
    });
  }

  async stopAgent(): Promise<number> {
    const code = (await this.agent?.stop()) ?? 0;
    this.agent = undefined;
    return code;
  }

  /** GET on the hub's technician API (HTTPS, HTTP/1.1), trusting the hub's CA as technicians do. */
  hubGet(path: string, headers: Record<string, string> = {}): Promise<HubAnswer> {
    return new Promise((done, fail) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: this.apiPort,
          path,
          headers,
          ca: readFileSync(join(this.hubDir, 'ca.pem')),
          servername: 'localhost',
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, text }));
        },
      );
      req.on('error', fail);
      req.end();
    });
  }

  /** The agent's status straight from its admin API. */
  async agentStatus(): Promise<AgentStatusJson> {
    return (await this.admin('GET', '/v1/status')) as AgentStatusJson;
  }

  async admin(method: string, path: string, body?: unknown): Promise<unknown> {
    const token = readFileSync(join(this.agentDir, 'admin-token'), 'utf8').trim();
    const response = await fetch(`http://127.0.0.1:${this.adminPort}${path}`, {
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

  async waitForTunnel(state = 'connected', timeoutMs = 15_000): Promise<AgentStatusJson> {
    return waitFor(
      `tunnel ${state}`,
      async () => {
        const status = await this.agentStatus();
        return status.tunnel.state === state ? status : undefined;
      },
      timeoutMs,
    );
  }

  async login(user: string, password: string, env: NodeJS.ProcessEnv = this.techEnv): Promise<CliResult> {
    return runCli(
      [
        'login',
        '--hub',
        this.hubUrl,
        '--user',
        user,
        '--password-stdin',
        '--ca-file',
        join(this.hubDir, 'ca.pem'),
      ],
      { input: password + '\n', env },
    );
  }

  /** Adds a technician and logs in with a LIFELINE_HOME of its own; returns that environment. */
  async technician(user: string, password: string, group = 'technicians'): Promise<NodeJS.ProcessEnv> {
    await this.addUser(user, password, group);
    const env = { LIFELINE_HOME: join(this.root, `home-${user}`) };
    const login = await this.login(user, password, env);
    if (login.code !== 0) throw new Error(`login as ${user} failed: ${login.stderr}`);
    return env;
  }

  /** `lifeline connect STATION --service NAME --listen 127.0.0.1:PORT`, once it listens. */
  async connectListen(service: string, extra: string[] = []): Promise<{ port: number; process: CliProcess }> {
    const port = await freePort();
    const proc = this.track(
      new CliProcess(
        ['connect', this.stationId, '--service', service, '--listen', `127.0.0.1:${port}`, ...extra],
        this.techEnv,
      ),
    );
    await waitFor('connect --listen', async () => {
      if (proc.child.exitCode !== null) throw new Error(`connect exited: ${proc.stderr}`);
      return /Forwarding/.test(proc.stderr);
    });
    return { port, process: proc };
  }

  track(proc: CliProcess): CliProcess {
    this.#extra.add(proc);
    void proc.exited.then(() => this.#extra.delete(proc));
    return proc;
  }

  /** A fully set-up cluster: hub with user tech, agent enrolled, started, remote on, access full (or as given). */
  static async start(
    options: {
      remote?: boolean;
      access?: 'full' | 'restricted' | 'none';
      /** YAML appended to agent.yaml before the agent starts. */
      agentYaml?: string;
      /** YAML appended to hub.yaml before the hub starts. */
      hubYaml?: string;
      /** Merged into agent.yaml before the agent starts (for sections enrollment already wrote). */
      agentConfig?: Record<string, unknown>;
      /** Services registered before the agent starts: name -> port. */
      services?: Record<string, number>;
    } = {},
  ): Promise<Cluster> {
    const cluster = new Cluster();
    try {
      await cluster.initHub();
      if (options.hubYaml) appendFileSync(join(cluster.hubDir, 'hub.yaml'), options.hubYaml);
      await cluster.startHub();
      await cluster.addUser('tech', 'tech-password-1');
      await cluster.enroll();
      if (options.agentYaml) appendFileSync(join(cluster.agentDir, 'agent.yaml'), options.agentYaml);
      if (options.agentConfig) mergeIntoYaml(join(cluster.agentDir, 'agent.yaml'), options.agentConfig);
      for (const [name, port] of Object.entries(options.services ?? {})) await cluster.addService(name, port);
      await cluster.startAgent();
      await cluster.cli(['agent', 'access', options.access ?? 'full', '--data', cluster.agentDir]);
      if (options.remote !== false) {
        await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
        await cluster.waitForTunnel();
      }
      const login = await cluster.login('tech', 'tech-password-1');
      if (login.code !== 0) throw new Error(`login failed: ${login.stderr}`);
      return cluster;
    } catch (err) {
      await cluster.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#extra].map((p) => p.stop('SIGKILL')));
    await this.stopAgent().catch(() => undefined);
    await this.stopHub().catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}
