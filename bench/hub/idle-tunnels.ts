// Idle tunnels held by one hub node on PostgreSQL, and the node's memory per tunnel: N stations
// enrolled through the agent's own enroll(), their tunnels held idle by the emulated agents of
// bench/tunnel (idle-station-worker.ts, spread over child processes). RSS and V8 heap are sampled
// once a second after enrollment (before) and with every tunnel up (after); (after - before) / N.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connectWorkers } from '../tunnel/idle-workers.js';
import type { WorkerConfig } from '../tunnel/idle-station-worker.js';
import { createEnrollmentTokens } from '../tunnel/enrollment-tokens.js';
import { runLifeline } from '../tunnel/lifeline-setup.js';
import { rssKiB } from '../tunnel/process-memory.js';
import type { ProcessGroup } from '../tunnel/processes.js';
import { startHubNode, type BenchStore, type HubNode } from './hub-node.js';

export interface IdleLoad {
  stations: number;
  /** Child processes the emulated agents are spread over. */
  workers: number;
  /** Enrollments and handshakes in flight at once in each worker. */
  concurrencyPerWorker: number;
  /** Seconds of samples before and after the tunnels come up (one a second, median kept). */
  sampleSeconds: number;
}

export interface MemorySample {
  rssKiB: number;
  heapUsedKiB: number;
}

export interface MemoryReading {
  /** Medians of the samples. */
  median: MemorySample;
  samples: MemorySample[];
}

export interface IdleFigures {
  store: BenchStore['kind'];
  stations: number;
  connectSeconds: number;
  /** Tunnels the node says it holds: its tunnels_connected gauge, and its record in the cluster. */
  heldByMetrics: number;
  heldByCluster: number;
  before: MemoryReading;
  after: MemoryReading;
  rssKiBPerTunnel: number;
  heapKiBPerTunnel: number;
}

// The stations all dial at once here; the admission that paces a restart's redials would make
// most of them wait, which measures the pacing instead of the memory.
const admissionPerSecond = 100_000;
const pingIntervalMs = 10_000;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function sampleMemory(hub: HubNode, seconds: number): Promise<MemoryReading> {
  const samples: MemorySample[] = [];
  for (let i = 0; i < Math.max(1, seconds); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const metrics = await hub.scrapeMetrics();
    const heapBytes = metrics.get('lifeline_hub_nodejs_heap_size_used_bytes');
    if (heapBytes === undefined)
      throw new Error('the hub metrics have no lifeline_hub_nodejs_heap_size_used_bytes');
    samples.push({ rssKiB: rssKiB(hub.process.pid), heapUsedKiB: Math.round(heapBytes / 1024) });
  }
  return {
    median: {
      rssKiB: median(samples.map((s) => s.rssKiB)),
      heapUsedKiB: median(samples.map((s) => s.heapUsedKiB)),
    },
    samples,
  };
}

/** Stations the cluster records as held by the node (`lifeline hub nodes --json`). */
async function stationsHeldByCluster(hubDir: string, env: NodeJS.ProcessEnv): Promise<number> {
  const text = await runLifeline(['hub', 'nodes', '--data', hubDir, '--json'], { env });
  const nodes = JSON.parse(text) as { state: string; stationsHeld: number }[];
  return nodes.filter((node) => node.state === 'up').reduce((sum, node) => sum + node.stationsHeld, 0);
}

export async function measureIdleTunnels(options: {
  group: ProcessGroup;
  dir: string;
  store: BenchStore;
  load: IdleLoad;
  log: (message: string) => void;
}): Promise<IdleFigures> {
  const { group, dir, store, load, log } = options;
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, LIFELINE_HOME: join(dir, 'home') };
  let tokens: string[] = [];
  log(`idle: ${load.stations} enrollment tokens and a hub node on ${store.kind}`);
  const hub = await startHubNode({
    group,
    dir,
    env,
    store,
    hubYaml: { admission: { tunnelsPerSecond: admissionPerSecond } },
    beforeStart: async (hubDir) => {
      tokens = await createEnrollmentTokens(hubDir, load.stations);
    },
  });
  const workerCount = Math.min(load.workers, load.stations);
  const configs: WorkerConfig[] = Array.from({ length: workerCount }, (_, index) => ({
    hubPort: hub.stationPort,
    tokens: tokens.filter((_, i) => i % workerCount === index),
    dataDir: join(dir, `agents-${index}`),
    concurrency: load.concurrencyPerWorker,
    pingIntervalMs,
  }));
  const workers = await connectWorkers(group, dir, configs, hub.process, log, async () => {
    const before = await sampleMemory(hub, load.sampleSeconds);
    log(`idle: all enrolled; hub RSS ${before.median.rssKiB} KiB, heap ${before.median.heapUsedKiB} KiB`);
    return before;
  });
  log(`idle: ${load.stations} tunnels up in ${workers.connectSeconds.toFixed(1)} s`);
  const after = await sampleMemory(hub, load.sampleSeconds);
  hub.process.assertRunning();
  workers.assertAllUp();
  const heldByMetrics = (await hub.scrapeMetrics()).get('lifeline_hub_tunnels_connected') ?? Number.NaN;
  const heldByCluster = await stationsHeldByCluster(hub.hubDir, env);
  const before = workers.measuredBefore;
  const perTunnel = (key: keyof MemorySample): number =>
    Math.round(((after.median[key] - before.median[key]) / load.stations) * 100) / 100;
  return {
    store: store.kind,
    stations: load.stations,
    connectSeconds: Math.round(workers.connectSeconds * 10) / 10,
    heldByMetrics,
    heldByCluster,
    before,
    after,
    rssKiBPerTunnel: perTunnel('rssKiB'),
    heapKiBPerTunnel: perTunnel('heapUsedKiB'),
  };
}
