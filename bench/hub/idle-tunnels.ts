// Idle tunnels held by one hub node on PostgreSQL, and the node's memory per tunnel: N stations
// enrolled through the agent's own enroll(), their tunnels held idle by the emulated agents of
// bench/tunnel (idle-station-worker.ts, spread over child processes). RSS is sampled once a second
// after enrollment (before) and with every tunnel up (after): (after - before) / N. The V8 heap is
// read after a full collection with every tunnel up and again once they have all closed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connectWorkers } from '../tunnel/idle-workers.js';
import type { WorkerConfig } from '../tunnel/idle-station-worker.js';
import { createEnrollmentTokens } from '../tunnel/enrollment-tokens.js';
import { runLifeline } from '../tunnel/lifeline-setup.js';
import { rssKiB, settledReading, type SettledReading } from '../tunnel/process-memory.js';
import type { ProcessGroup } from '../tunnel/processes.js';
import { startHubNode, type BenchStore, type HubNode } from './hub-node.js';

export interface IdleLoad {
  stations: number;
  /** Child processes the emulated agents are spread over. */
  workers: number;
  /** Enrollments and handshakes in flight at once in each worker. */
  concurrencyPerWorker: number;
  /** Seconds of RSS samples before and after the tunnels come up (one a second, median kept). */
  sampleSeconds: number;
}

export interface IdleFigures {
  store: BenchStore['kind'];
  stations: number;
  connectSeconds: number;
  /** Tunnels the node says it holds: its tunnels_connected gauge, and its record in the cluster. */
  heldByMetrics: number;
  heldByCluster: number;
  /** Node RSS once a second, after enrollment (before) and with every tunnel up (after). */
  rssBeforeKiB: SettledReading;
  rssAfterKiB: SettledReading;
  rssKiBPerTunnel: number;
  /** V8 heap in use after a full collection, with every tunnel up and once they have all closed. */
  heapWithTunnelsKiB: number;
  heapWithoutTunnelsKiB: number;
  heapKiBPerTunnel: number;
}

// The stations all dial at once here; the admission that paces a restart's redials would make
// most of them wait, which measures the pacing instead of the memory.
const admissionPerSecond = 100_000;
const pingIntervalMs = 10_000;
const closeTimeoutMs = 60_000;

function perTunnel(deltaKiB: number, tunnels: number): number {
  return Math.round((deltaKiB / tunnels) * 100) / 100;
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
    heapSnapshots: true,
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
  const rss = (): Promise<SettledReading> =>
    settledReading(load.sampleSeconds, () => rssKiB(hub.process.pid));
  const workers = await connectWorkers(group, dir, configs, hub.process, log, async () => {
    const before = await rss();
    log(`idle: all enrolled; hub RSS ${before.median} KiB`);
    return before;
  });
  log(`idle: ${load.stations} tunnels up in ${workers.connectSeconds.toFixed(1)} s`);
  const rssAfterKiB = await rss();
  hub.process.assertRunning();
  workers.assertAllUp();
  const heldByMetrics = (await hub.scrapeMetrics()).get('lifeline_hub_tunnels_connected') ?? Number.NaN;
  const heldByCluster = await stationsHeldByCluster(hub.hubDir, env);
  // The heap after the RSS: a snapshot (the full collection) raises the RSS for good.
  const heapWithTunnelsKiB = await hub.heapUsedAfterFullGcKiB();
  await workers.stop();
  await waitUntilNoTunnels(hub);
  const heapWithoutTunnelsKiB = await hub.heapUsedAfterFullGcKiB();
  log(
    `idle: heap after a full collection ${heapWithTunnelsKiB} KiB with the tunnels, ${heapWithoutTunnelsKiB} KiB without`,
  );
  const rssBeforeKiB = workers.measuredBefore;
  return {
    store: store.kind,
    stations: load.stations,
    connectSeconds: Math.round(workers.connectSeconds * 10) / 10,
    heldByMetrics,
    heldByCluster,
    rssBeforeKiB,
    rssAfterKiB,
    rssKiBPerTunnel: perTunnel(rssAfterKiB.median - rssBeforeKiB.median, load.stations),
    heapWithTunnelsKiB,
    heapWithoutTunnelsKiB,
    heapKiBPerTunnel: perTunnel(heapWithTunnelsKiB - heapWithoutTunnelsKiB, load.stations),
  };
}

async function waitUntilNoTunnels(hub: HubNode): Promise<void> {
  const deadline = Date.now() + closeTimeoutMs;
  for (;;) {
    const connected = (await hub.scrapeMetrics()).get('lifeline_hub_tunnels_connected');
    if (connected === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `the hub still counts ${String(connected)} tunnels ${closeTimeoutMs} ms after they closed`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
