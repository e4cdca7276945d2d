// Hub memory per idle connected station: a real hub process, N stations enrolled through the
// agent's own enroll(), and their tunnels held idle by emulated agents (idle-station-worker.ts,
// spread over child processes). Reports (hub RSS after - before) / N against the 64 KiB target;
// "before" is taken after enrollment, so only the tunnels are counted.
// Usage: npm run -s build && node --import tsx bench/tunnel/idle-stations.ts [--stations 2000]
//        [--workers 4] [--idle-seconds 5] [--concurrency 8]

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mergeIntoYaml } from '../../test/harness/cluster.js';
import { createEnrollmentTokens } from './enrollment-tokens.js';
import { connectWorkers } from './idle-workers.js';
import type { WorkerConfig } from './idle-station-worker.js';
import { repoRoot, startHub } from './lifeline-setup.js';
import { rssKiB, settledReading } from './process-memory.js';
import { ProcessGroup } from './processes.js';
import { round } from './stats.js';

const { values: flags } = parseArgs({
  options: {
    stations: { type: 'string', default: '2000' },
    workers: { type: 'string', default: '4' },
    'idle-seconds': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
  },
});
const params = {
  stations: positiveInt(flags.stations, '--stations'),
  workers: positiveInt(flags.workers, '--workers'),
  idleSeconds: positiveInt(flags['idle-seconds'], '--idle-seconds'),
  concurrencyPerWorker: positiveInt(flags.concurrency, '--concurrency'),
  pingIntervalMs: 10_000,
};
const targetKiBPerStation = 64;
const admissionPerSecond = 100_000;

function positiveInt(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

function log(message: string): void {
  console.error(`[idle-stations] ${message}`);
}

/** Hub RSS in KiB sampled once a second for `seconds`: the median and every sample. */
async function settledRssKiB(
  pid: number,
  seconds: number,
): Promise<{ medianKiB: number; samplesKiB: number[] }> {
  const { median, samples } = await settledReading(seconds, () => rssKiB(pid));
  return { medianKiB: median, samplesKiB: samples };
}

async function main(): Promise<void> {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-idle-'));
  const cleanUp = async (): Promise<void> => {
    await group.close();
    rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
  }
  try {
    const env = { ...process.env, LIFELINE_HOME: join(dir, 'home') };
    let tokens: string[] = [];
    log(`creating ${params.stations} enrollment tokens and starting the hub`);
    const hub = await startHub(group, dir, env, async (hubDir) => {
      tokens = await createEnrollmentTokens(hubDir, params.stations);
      // The stations all dial at once here; the admission that paces a restart's redials would
      // make most of them wait, which measures the pacing instead of the memory.
      mergeIntoYaml(join(hubDir, 'hub.yaml'), { admission: { tunnelsPerSecond: admissionPerSecond } });
    });
    const configs: WorkerConfig[] = Array.from({ length: params.workers }, (_, index) => ({
      hubPort: hub.stationPort,
      tokens: tokens.filter((_, i) => i % params.workers === index),
      dataDir: join(dir, `agents-${index}`),
      concurrency: params.concurrencyPerWorker,
      pingIntervalMs: params.pingIntervalMs,
    }));
    const workers = await connectWorkers(group, dir, configs, hub.process, log, async () => {
      const before = await settledRssKiB(hub.process.pid, 3);
      log(`all enrolled; hub RSS before the tunnels: ${before.medianKiB} KiB`);
      return before;
    });
    log(
      `${params.stations} tunnels up in ${workers.connectSeconds.toFixed(1)} s; idle for ${params.idleSeconds} s`,
    );
    const after = await settledRssKiB(hub.process.pid, params.idleSeconds);
    hub.process.assertRunning();
    workers.assertAllUp();
    const before = workers.measuredBefore;

    const perStationKiB = round((after.medianKiB - before.medianKiB) / params.stations, 2);
    const met = perStationKiB <= targetKiBPerStation;
    console.log('\nHub memory per idle connected station\n');
    console.log(`  stations            ${params.stations} (over ${params.workers} processes)`);
    console.log(`  hub RSS before      ${before.medianKiB} KiB (enrolled, no tunnel)`);
    const range = `${Math.min(...after.samplesKiB)}..${Math.max(...after.samplesKiB)}`;
    console.log(
      `  hub RSS after       ${after.medianKiB} KiB (median of ${after.samplesKiB.length} samples, ${range})`,
    );
    console.log(
      `  per station         ${perStationKiB} KiB  (target <= ${targetKiBPerStation} KiB: ${met ? 'met' : 'MISSED'})`,
    );
    const outPath = join(repoRoot, 'bench', 'results', 'idle-stations.json');
    mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
    const json = {
      measuredAt: new Date().toISOString(),
      node: process.version,
      params,
      connectSeconds: workers.connectSeconds,
      rssBeforeKiB: before,
      rssAfterKiB: after,
      perStationKiB,
      target: { maxKiBPerStation: targetKiBPerStation, met },
    };
    writeFileSync(outPath, JSON.stringify(json, null, 2) + '\n');
    console.log(`\nJSON: ${outPath}`);
    process.exitCode = met ? 0 : 1;
  } finally {
    await cleanUp();
  }
}

await main();
