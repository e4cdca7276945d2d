// The parent's side of the idle-stations workers: start them, wait until every station is
// enrolled, let the caller measure the hub at rest, then have every worker open its tunnels.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectCommand, WorkerConfig, WorkerMessage } from './idle-station-worker.js';
import { repoRoot } from './lifeline-setup.js';
import type { ProcessGroup, Tracked } from './processes.js';

const phaseDeadlineMs = 10 * 60_000;

export interface ConnectedWorkers<T> {
  measuredBefore: T;
  connectSeconds: number;
  /** Throws if a worker exited or any tunnel was lost since it came up. */
  assertAllUp(): void;
  /** Stops every worker, which closes its tunnels. */
  stop(): Promise<void>;
}

interface Phases {
  enrolled: Promise<void>;
  ready: Promise<void>;
}

/** Waits for `waits`, failing early if the hub exits or the deadline passes. */
async function waitAll(waits: Promise<void>[], hub: Tracked, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not done in ${phaseDeadlineMs} ms`)),
      phaseDeadlineMs,
    );
  });
  const hubExit = hub.exited.then(() => hub.assertRunning());
  try {
    await Promise.race([Promise.all(waits), deadline, hubExit]);
  } finally {
    clearTimeout(timer);
  }
}

export async function connectWorkers<T>(
  group: ProcessGroup,
  dir: string,
  configs: WorkerConfig[],
  hub: Tracked,
  log: (message: string) => void,
  measureBefore: () => Promise<T>,
): Promise<ConnectedWorkers<T>> {
  const workerPath = join(repoRoot, 'bench', 'tunnel', 'idle-station-worker.ts');
  const lost: string[] = [];
  const workers: Tracked[] = [];
  const phases: Phases[] = configs.map((config, index) => {
    const configPath = join(dir, `worker-${index}.json`);
    writeFileSync(configPath, JSON.stringify(config));
    const worker = group.start(
      `idle-station worker ${index}`,
      process.execPath,
      ['--import', 'tsx', workerPath, configPath],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    workers.push(worker);
    const failed = new Promise<never>((_, reject) => {
      worker.child.on('message', (message: WorkerMessage) => {
        if (message.type === 'failed') reject(new Error(`worker ${index}: ${message.message}`));
      });
      void worker.exited.then(() => reject(new Error(`worker ${index} exited:\n${worker.output.trim()}`)));
    });
    failed.catch(() => undefined); // observed through the phases below
    const reached = (type: 'enrolled' | 'ready'): Promise<void> =>
      Promise.race([
        failed,
        new Promise<void>((resolve) => {
          worker.child.on('message', (message: WorkerMessage) => {
            if (message.type === type) resolve();
          });
        }),
      ]);
    worker.child.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') log(`worker ${index}: ${message.count} ${message.phase}`);
      if (message.type === 'lost') lost.push(`${message.stationId}: ${message.reason}`);
    });
    return { enrolled: reached('enrolled'), ready: reached('ready') };
  });
  for (const phase of phases) phase.ready.catch(() => undefined); // awaited after the connect command

  await waitAll(
    phases.map((phase) => phase.enrolled),
    hub,
    'enrollment',
  );
  const measuredBefore = await measureBefore();
  const started = Date.now();
  const command: ConnectCommand = { type: 'connect' };
  for (const worker of workers) worker.child.send(command);
  await waitAll(
    phases.map((phase) => phase.ready),
    hub,
    'tunnels',
  );
  const connectSeconds = (Date.now() - started) / 1000;
  return {
    measuredBefore,
    connectSeconds,
    assertAllUp: () => {
      for (const worker of workers) worker.assertRunning();
      if (lost.length > 0) throw new Error(`${lost.length} tunnels were lost, e.g. ${lost[0] ?? ''}`);
    },
    stop: async () => {
      await Promise.all(workers.map((worker) => worker.stop()));
    },
  };
}
