// Call-home benchmark on loopback: durable reports per second accepted by the agent and ingested
// by the hub (target 5,000/s each), against a bare SQLite commit-per-row loop on the same disk; and
// error-data upload throughput against a raw TLS transfer of the same file, run before and after
// it (target 0.7x of their mean).
// Usage: npm run -s build && node --import tsx bench/callhome/run.ts [--reports 20000]
//        [--concurrency 32] [--upload-mib 200]

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { cpus, freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, runLifeline, startHub, startLifeline } from '../tunnel/lifeline-setup.js';
import { freePorts, waitForListen } from '../tunnel/ports.js';
import { ProcessGroup } from '../tunnel/processes.js';
import {
  measureAccepts,
  measureIngest,
  measureSqliteCommits,
  resumeCallHome,
  sqliteReportCounter,
  type ReportFigures,
} from './reports.js';
import { measureRawTls, primeFreeMemory, waitForUpload, writeRandomFile } from './upload.js';

const { values: flags } = parseArgs({
  options: {
    reports: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    'upload-mib': { type: 'string', default: '200' },
  },
});

function positiveInt(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const reportCount = positiveInt(flags.reports, '--reports');
const concurrency = positiveInt(flags.concurrency, '--concurrency');
const uploadBytes = positiveInt(flags['upload-mib'], '--upload-mib') * 1024 * 1024;
const targetPerSecond = 5000;

const group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-callhome-'));
let cleaned: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaned ??= (async () => {
    await group.close();
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaned;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping every process started by the benchmark`);
    void cleanUp().finally(() => process.exit(130));
  });
}

function log(message: string): void {
  console.error(`[bench] ${message}`);
}

async function main(): Promise<number> {
  const technicianHome = join(dir, 'home');
  mkdirSync(technicianHome, { recursive: true });
  const env = { ...process.env, LIFELINE_HOME: technicianHome };

  log('baseline: bare SQLite, one commit per row');
  const sqliteCommitsPerSecond = measureSqliteCommits(dir, 2000);

  log('starting a hub and an agent');
  const hub = await startHub(group, dir, env);
  const tokenFile = join(dir, 'enroll.token');
  await runLifeline(['hub', 'token', 'create', '--data', hub.hubDir, '--out', tokenFile], { env });
  const agentDir = join(dir, 'agent');
  await runLifeline(['agent', 'enroll', '--data', agentDir, '--token-file', tokenFile], { env });
  // Room for every report of the run in the outbox (the default bound is 10,000 waiting).
  const agentYaml = join(agentDir, 'agent.yaml');
  const config = (parseYaml(readFileSync(agentYaml, 'utf8')) ?? {}) as { callhome?: Record<string, unknown> };
  config.callhome = { ...config.callhome, maxPending: 2 * reportCount + 1000 };
  writeFileSync(agentYaml, stringifyYaml(config));
  const [adminPort] = (await freePorts(1)) as [number];
  const agent = startLifeline(
    group,
    'lifeline agent',
    ['agent', 'start', '--data', agentDir, '--admin-listen', `127.0.0.1:${adminPort}`],
    env,
  );
  await waitForListen(adminPort, 'agent admin API', {
    timeoutMs: 20_000,
    check: () => agent.assertRunning(),
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  // Accepting is measured alone: the sender waits (maintenance mode) until every report is in.
  await runLifeline(['agent', 'callhome', 'pause', '--for', '1h', '--data', agentDir], { env });
  log(`agent: accepting ${reportCount} reports from ${concurrency} clients`);
  const acceptedPerSecond = await measureAccepts({
    adminUrl,
    agentDir,
    count: reportCount,
    concurrency,
    perRequest: 1,
  });
  log(`agent: accepting ${reportCount} more, 100 per request from 4 clients`);
  const acceptedBatchedPerSecond = await measureAccepts({
    adminUrl,
    agentDir,
    count: reportCount,
    concurrency: 4,
    perRequest: 100,
  });

  log(`hub: ingesting all ${2 * reportCount}`);
  const startedAt = performance.now();
  await resumeCallHome(adminUrl, agentDir);
  const counter = sqliteReportCounter(join(hub.hubDir, 'hub.db'));
  const ingestedPerSecond = await measureIngest({
    counter,
    count: 2 * reportCount,
    startedAt,
    timeoutMs: 300_000,
  }).finally(() => counter.close());

  const file = join(dir, 'error-data.bin');
  log(`upload: writing ${uploadBytes / 1024 / 1024} MiB of random bytes`);
  const fileSha256 = writeRandomFile(file, uploadBytes);
  // The baseline runs before and after Lifeline's upload and the ratio is to their mean, so a
  // machine that drifts during the run (neighbours, the page cache filling) weighs on both alike.
  // Each transfer starts with the same memory freed just before it (see primeFreeMemory): room
  // for the copy's page cache and the buffers on its way several times over, within what is free.
  const primeBytes = Math.min(4 * uploadBytes + 512 * 1024 * 1024, Math.floor(freemem() / 2));
  const rawTls = () =>
    measureRawTls({
      file,
      sha256: fileSha256,
      certPath: join(hub.hubDir, 'server.pem'),
      keyPath: join(hub.hubDir, 'server-key.pem'),
      caPath: join(hub.hubDir, 'ca.pem'),
      outPath: join(dir, 'raw-received.bin'),
      beforeStart: () => primeFreeMemory(primeBytes),
    });
  log('upload: raw TLS to a process that writes and syncs the file (baseline, before)');
  const rawBeforeBytesPerSecond = await rawTls();
  log("upload: the same file as a problem's error data, agent to hub");
  await runLifeline(['agent', 'callhome', 'pause', '--for', '1h', '--data', agentDir], { env });
  await runLifeline(
    [
      'agent',
      'problem',
      'open',
      '--summary',
      'benchmark upload',
      '--severity',
      'informational',
      '--attach',
      file,
      '--no-follow',
      '--data',
      agentDir,
    ],
    { env },
  );
  await primeFreeMemory(primeBytes);
  const uploadStartedAt = performance.now();
  await resumeCallHome(adminUrl, agentDir);
  const lifelineBytesPerSecond = await waitForUpload({
    hubDir: hub.hubDir,
    bytes: uploadBytes,
    startedAt: uploadStartedAt,
    timeoutMs: 600_000,
  });
  log('upload: raw TLS again (baseline, after)');
  const rawAfterBytesPerSecond = await rawTls();
  const rawBytesPerSecond = (rawBeforeBytesPerSecond + rawAfterBytesPerSecond) / 2;
  const uploadRatio = lifelineBytesPerSecond / rawBytesPerSecond;

  const figures: ReportFigures = {
    reports: reportCount,
    concurrency,
    acceptedPerSecond: Math.round(acceptedPerSecond),
    acceptedBatchedPerSecond: Math.round(acceptedBatchedPerSecond),
    ingestedPerSecond: Math.round(ingestedPerSecond),
    sqliteCommitsPerSecond: Math.round(sqliteCommitsPerSecond),
  };
  const verdict = (value: number): string => (value >= targetPerSecond ? 'met' : 'MISSED');
  console.log(`\nCall home on ${cpus().length} cores, ${reportCount} reports, ${concurrency} clients`);
  console.log(`  bare SQLite commits/s (baseline)   ${figures.sqliteCommitsPerSecond}`);
  console.log(
    `  accepted by the agent, reports/s   ${figures.acceptedPerSecond} one per request (${concurrency} clients); ${figures.acceptedBatchedPerSecond} 100 per request (target ${targetPerSecond}: ${verdict(Math.max(acceptedPerSecond, acceptedBatchedPerSecond))})`,
  );
  console.log(
    `  ingested by the hub, reports/s     ${figures.ingestedPerSecond}  (${(ingestedPerSecond / sqliteCommitsPerSecond).toFixed(2)}x baseline; target ${targetPerSecond}: ${verdict(ingestedPerSecond)})`,
  );
  const mbps = (bytesPerSecond: number): string => (bytesPerSecond / 1e6).toFixed(0);
  console.log(
    `  upload of ${uploadBytes / 1024 / 1024} MiB, raw TLS (baseline)  ${mbps(rawBytesPerSecond)} MB/s  (${mbps(rawBeforeBytesPerSecond)} before, ${mbps(rawAfterBytesPerSecond)} after)`,
  );
  console.log(
    `  upload through Lifeline            ${mbps(lifelineBytesPerSecond)} MB/s  (${uploadRatio.toFixed(2)}x raw TLS; target 0.7: ${uploadRatio >= 0.7 ? 'met' : 'MISSED'})`,
  );
  const jsonPath = join(repoRoot, 'bench', 'results', 'callhome.json');
  mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
  writeFileSync(
    jsonPath,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        cores: cpus().length,
        reports: figures,
        upload: {
          bytes: uploadBytes,
          rawTlsBytesPerSecond: Math.round(rawBytesPerSecond),
          rawTlsBeforeBytesPerSecond: Math.round(rawBeforeBytesPerSecond),
          rawTlsAfterBytesPerSecond: Math.round(rawAfterBytesPerSecond),
          lifelineBytesPerSecond: Math.round(lifelineBytesPerSecond),
          ratio: Math.round(uploadRatio * 1000) / 1000,
        },
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwritten to ${jsonPath}`);
  return 0;
}

main()
  .then(async (code) => {
    await cleanUp();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    console.error(err);
    await cleanUp();
    process.exit(1);
  });
