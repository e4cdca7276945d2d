// Hub memory per idle connected station: a real hub process, N stations enrolled through the
// agent's own enroll(), and their tunnels held idle by emulated agents (idle-station-worker.ts,
// spread over child processes). Reports (hub RSS after - before) / N against the 64 KiB target;
// "before" is taken after enrollment, so only the tunnels are counted.
// Usage: npm run -s build && node --import tsx bench/tunnel/idle-stations.ts [--stations 2000]
//        [--workers 4] [--idle-seconds 5] [--concurrency 8]

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { enrollmentTokenId, hubPaths, loadHubConfig } from '../../src/hub/index.js';
import { certSha256 } from '../../src/pki/index.js';
import { encodeEnrollmentToken } from '../../src/protocol/index.js';
import { openSqliteHubStore } from '../../src/hub/store/index.js';
import { connectWorkers } from './idle-workers.js';
import type { WorkerConfig } from './idle-station-worker.js';
import { repoRoot, startHub } from './lifeline-setup.js';
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

function positiveInt(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

function log(message: string): void {
  console.error(`[idle-stations] ${message}`);
}

/** Resident set size of a process in KiB (VmRSS in /proc/PID/status). */
function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]);
}

/** RSS sampled once a second for `seconds`; the median of the samples, to smooth GC swings. */
async function settledRssKiB(
  pid: number,
  seconds: number,
): Promise<{ medianKiB: number; samplesKiB: number[] }> {
  const samplesKiB: number[] = [];
  for (let i = 0; i < seconds; i++) {
    await sleep(1_000);
    samplesKiB.push(rssKiB(pid));
  }
  const sorted = [...samplesKiB].sort((a, b) => a - b);
  return { medianKiB: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN, samplesKiB };
}

/** N enrollment tokens, stored as `lifeline hub token create` stores them (before the hub starts). */
async function createTokens(hubDir: string, count: number): Promise<string[]> {
  const paths = hubPaths(hubDir);
  const { stationAddress } = loadHubConfig(hubDir);
  const caSha256 = certSha256(readFileSync(paths.caCert, 'utf8'));
  const store = await openSqliteHubStore(paths.database);
  const tokens: string[] = [];
  try {
    const nowMs = Date.now();
    for (let i = 0; i < count; i++) {
      const secret = randomBytes(32).toString('base64url');
      const id = enrollmentTokenId(secret);
      await store.addEnrollmentToken({
        id,
        createdAtMs: nowMs,
        expiresAtMs: nowMs + 3600_000,
        usedAtMs: null,
        usedByStation: null,
      });
      tokens.push(encodeEnrollmentToken({ hub: stationAddress, caSha256, secret }));
    }
  } finally {
    await store.close();
  }
  return tokens;
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
      tokens = await createTokens(hubDir, params.stations);
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
