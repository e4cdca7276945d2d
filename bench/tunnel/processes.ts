// The processes a benchmark starts: each is tracked so that close() ends every one of them, and each
// keeps the tail of its output so a failure can say what the process printed.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

const outputTailBytes = 16 * 1024;
const termGraceMs = 2_000;

/**
 * Every child still running, killed synchronously when this process exits for any reason (an
 * uncaught error included), so a crash of the benchmark leaves no process behind.
 */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class Tracked {
  readonly name: string;
  readonly child: ChildProcess;
  #output = '';
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    live.add(child);
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-outputTailBytes);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        live.delete(child);
        this.#output += `\n[spawn error: ${err.message}]`;
        this.#exit ??= { code: null, signal: null };
        resolve();
      });
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.#exit = { code, signal };
        resolve();
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid: ${this.output}`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  get output(): string {
    return this.#output;
  }

  /** Throws if the process has exited: use as a `check` while waiting for it to get ready. */
  assertRunning(): void {
    if (this.#exit !== undefined) {
      const how = this.#exit.signal ?? `code ${String(this.#exit.code)}`;
      throw new Error(`${this.name} exited (${how}):\n${this.#output.trim()}`);
    }
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), termGraceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export class ProcessGroup {
  #processes: Tracked[] = [];

  /** Starts a long-running process; its stdout and stderr are kept (tail only). */
  start(name: string, command: string, args: string[], options: SpawnOptions = {}): Tracked {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const tracked = new Tracked(name, child);
    this.#processes.push(tracked);
    return tracked;
  }

  /** Stops every process started here, newest first; safe to call more than once. */
  async close(): Promise<void> {
    const processes = this.#processes.reverse();
    this.#processes = [];
    for (const tracked of processes) await tracked.stop();
  }
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs a command to completion (killed after timeoutMs); resolves with stdout, throws on failure. */
export async function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const child = spawn(command, args, {
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  const tracked = new Tracked(`${command} ${args.join(' ')}`, child);
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  // A command may exit without reading its input (EPIPE): its exit status tells what happened.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(options.input);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    if (code !== 0) {
      const how = signal === null ? `code ${String(code)}` : `${signal} (timeout ${timeoutMs} ms?)`;
      throw new Error(`${tracked.name} failed (${how}):\n${tracked.output.trim()}`);
    }
  } finally {
    clearTimeout(timer);
  }
  return stdout;
}
