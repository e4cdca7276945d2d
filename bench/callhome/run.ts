// Call-home benchmark on loopback: durable reports per second accepted by the agent and ingested
// by the hub (target 5,000/s each), against a bare SQLite commit-per-row loop on the same disk.
// Usage: npm run -s build && node --import tsx bench/callhome/run.ts [--reports 20000] [--concurrency 32]

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, runLifeline, startHub, startLifeline } from '../tunnel/lifeline-setup.js';
import { freePorts, waitForListen } from '../tunnel/ports.js';
import { ProcessGroup } from '../tunnel/processes.js';
import { measureAccepts, measureIngest, measureSqliteCommits, type ReportFigures } from './reports.js';

const { values: flags } = parseArgs({
  options: {
    reports: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
  },
});

function positiveInt(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const reportCount = positiveInt(flags.reports, '--reports');
const concurrency = positiveInt(flags.concurrency, '--concurrency');
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
  const acceptedPerSecond = await measureAccepts({ adminUrl, agentDir, count: reportCount, concurrency });

  log('hub: ingesting them');
  const startedAt = performance.now();
  await runLifeline(['agent', 'callhome', 'resume', '--data', agentDir], { env });
  const ingestedPerSecond = await measureIngest({
    hubDir: hub.hubDir,
    count: reportCount,
    startedAt,
    timeoutMs: 300_000,
  });

  const figures: ReportFigures = {
    reports: reportCount,
    concurrency,
    acceptedPerSecond: Math.round(acceptedPerSecond),
    ingestedPerSecond: Math.round(ingestedPerSecond),
    sqliteCommitsPerSecond: Math.round(sqliteCommitsPerSecond),
  };
  const verdict = (value: number): string => (value >= targetPerSecond ? 'met' : 'MISSED');
  console.log(`\nCall home on ${cpus().length} cores, ${reportCount} reports, ${concurrency} clients`);
  console.log(`  bare SQLite commits/s (baseline)   ${figures.sqliteCommitsPerSecond}`);
  console.log(
    `  accepted by the agent, reports/s   ${figures.acceptedPerSecond}  (${(acceptedPerSecond / sqliteCommitsPerSecond).toFixed(2)}x baseline; target ${targetPerSecond}: ${verdict(acceptedPerSecond)})`,
  );
  console.log(
    `  ingested by the hub, reports/s     ${figures.ingestedPerSecond}  (${(ingestedPerSecond / sqliteCommitsPerSecond).toFixed(2)}x baseline; target ${targetPerSecond}: ${verdict(ingestedPerSecond)})`,
  );
  const jsonPath = join(repoRoot, 'bench', 'results', 'callhome.json');
  mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
  writeFileSync(
    jsonPath,
    JSON.stringify({ at: new Date().toISOString(), cores: cpus().length, reports: figures }, null, 2) + '\n',
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
