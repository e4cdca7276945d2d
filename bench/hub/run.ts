// Hub benchmark (issue 20): reports ingested per second by a hub node on SQLite and on PostgreSQL
// under the same agent load in one run, with the ratio PostgreSQL/SQLite (floor 0.5x); idle tunnels
// held by one node on PostgreSQL with its memory per tunnel; and session set-up p50 through a peer
// node against a local one (ceiling 2x). Each PostgreSQL cluster gets a fresh database, dropped at
// the end.
// Usage: npm run -s build && node --import tsx bench/hub/run.ts [--smoke] [--reports 20000]
//        [--stations 2000] [--workers 4] [--sample-seconds 5] [--sessions 200] [--out FILE]
// --smoke: a small load that runs in well under a minute (for the test that keeps this runnable);
// its figures are printed but not judged.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { adminPostgresUrl, createTestDatabase, type TestDatabase } from '../../test/harness/postgres.js';
import { repoRoot } from '../tunnel/lifeline-setup.js';
import { ProcessGroup } from '../tunnel/processes.js';
import { measureIdleTunnels, type IdleFigures, type IdleLoad } from './idle-tunnels.js';
import { measureHubIngest, type IngestFigures, type IngestLoad } from './ingest.js';
import { measurePeerSessions, type PeerSessionFigures, type PeerSessionLoad } from './peer-sessions.js';

const { values: flags } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    reports: { type: 'string' },
    stations: { type: 'string' },
    workers: { type: 'string' },
    'sample-seconds': { type: 'string' },
    sessions: { type: 'string' },
    out: { type: 'string' },
  },
});

function positiveInt(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const smoke = flags.smoke;
const ingestLoad: IngestLoad = {
  reports: positiveInt(flags.reports, smoke ? 300 : 20_000, '--reports'),
  perRequest: 100,
  clients: 4,
  timeoutMs: 300_000,
};
const idleLoad: IdleLoad = {
  stations: positiveInt(flags.stations, smoke ? 20 : 2000, '--stations'),
  workers: positiveInt(flags.workers, smoke ? 1 : 4, '--workers'),
  concurrencyPerWorker: smoke ? 4 : 8,
  sampleSeconds: positiveInt(flags['sample-seconds'], smoke ? 1 : 5, '--sample-seconds'),
};
const peerLoad: PeerSessionLoad = { sessions: positiveInt(flags.sessions, smoke ? 10 : 200, '--sessions') };
const outPath = flags.out ?? join(repoRoot, 'bench', 'results', 'hub.json');
const ingestFloor = 0.5;
const peerSessionCeiling = 2;

const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-hub-'));
const groups: ProcessGroup[] = [];
const databases: TestDatabase[] = [];
let cleaned: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaned ??= (async () => {
    for (const group of groups.reverse()) await group.close();
    for (const database of databases) await database.drop().catch((err: unknown) => console.error(err));
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
  console.error(`[bench:hub] ${message}`);
}

interface Machine {
  at: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  postgres: string;
}

async function describeMachine(): Promise<Machine> {
  const client = new pg.Client({ connectionString: adminPostgresUrl });
  await client.connect();
  let postgres: string;
  try {
    const result = await client.query<{ server_version: string }>('show server_version');
    postgres = result.rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
  return {
    at: new Date().toISOString(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${process.platform} ${release()}`,
    node: process.version,
    postgres,
  };
}

/** A section's processes live in a group of their own, stopped when the section ends. */
async function inGroup<T>(work: (group: ProcessGroup) => Promise<T>): Promise<T> {
  const group = new ProcessGroup();
  groups.push(group);
  try {
    return await work(group);
  } finally {
    await group.close();
  }
}

async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase('lifeline_bench');
  databases.push(database);
  return database;
}

interface IngestComparison {
  sqlite: IngestFigures;
  postgres: IngestFigures;
  /** PostgreSQL's reports/s over SQLite's. */
  ratio: number;
}

/** The same agent load at a node on SQLite, then at a node on PostgreSQL. */
async function compareIngest(): Promise<IngestComparison> {
  const sqlite = await inGroup((group) =>
    measureHubIngest({
      group,
      dir: join(dir, 'ingest-sqlite'),
      store: { kind: 'sqlite' },
      load: ingestLoad,
      log,
    }),
  );
  const database = await freshDatabase();
  const postgres = await inGroup((group) =>
    measureHubIngest({
      group,
      dir: join(dir, 'ingest-postgres'),
      store: { kind: 'postgres', url: database.url },
      load: ingestLoad,
      log,
    }),
  );
  return { sqlite, postgres, ratio: postgres.ingestedPerSecond / sqlite.ingestedPerSecond };
}

async function idleTunnelsOnPostgres(): Promise<IdleFigures> {
  const database = await freshDatabase();
  return inGroup((group) =>
    measureIdleTunnels({
      group,
      dir: join(dir, 'idle-postgres'),
      store: { kind: 'postgres', url: database.url },
      load: idleLoad,
      log,
    }),
  );
}

/** Session set-up p50 through a peer node against a local one, on a cluster of two nodes. */
async function measurePeerSessionSetup(): Promise<PeerSessionFigures> {
  const database = await freshDatabase();
  return inGroup((group) =>
    measurePeerSessions({
      group,
      dir: join(dir, 'peer-sessions'),
      databaseUrl: database.url,
      load: peerLoad,
      log,
    }),
  );
}

function verdict(met: boolean): string {
  if (smoke) return 'smoke run: not judged';
  return met ? 'met' : 'MISSED';
}

function printFigures(
  machine: Machine,
  ingest: IngestComparison,
  idle: IdleFigures,
  peer: PeerSessionFigures,
): void {
  const perSecond = (figures: IngestFigures): string =>
    `${Math.round(figures.ingestedPerSecond)} reports/s  (${figures.reports} in ${figures.seconds.toFixed(1)} s)`;
  console.log(`\nHub benchmark${smoke ? ' (smoke)' : ''}, ${machine.at}`);
  console.log(
    `  machine   ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.kernel}; Node ${machine.node}; PostgreSQL ${machine.postgres}`,
  );
  console.log(
    `\nReports ingested by one hub node: one agent, ${ingest.sqlite.reports} reports sent from its outbox`,
  );
  console.log(`  SQLite        ${perSecond(ingest.sqlite)}`);
  console.log(`  PostgreSQL    ${perSecond(ingest.postgres)}`);
  console.log(
    `  ratio         ${ingest.ratio.toFixed(2)}x SQLite  (floor ${ingestFloor}x: ${verdict(ingest.ratio >= ingestFloor)})`,
  );
  console.log(`\nIdle tunnels held by one hub node on PostgreSQL`);
  console.log(
    `  tunnels       ${idle.stations} up in ${idle.connectSeconds} s; the node counts ${idle.heldByMetrics} connected, the cluster records ${idle.heldByCluster} held`,
  );
  console.log(
    `  RSS           ${idle.rssBeforeKiB.median} KiB enrolled, ${idle.rssAfterKiB.median} KiB with the tunnels: ${idle.rssKiBPerTunnel} KiB per tunnel`,
  );
  console.log(
    `  V8 heap used  ${idle.heapWithoutTunnelsKiB} KiB without the tunnels, ${idle.heapWithTunnelsKiB} KiB with them (after a full collection): ${idle.heapKiBPerTunnel} KiB per tunnel`,
  );
  console.log(`\nSession set-up through a peer node against a local one (ceiling ${peerSessionCeiling}x)`);
  console.log(
    `  p50           local ${peer.localP50Ms} ms, through a peer ${peer.peerP50Ms} ms: ${peer.ratio.toFixed(2)}x  (${verdict(peer.ratio <= peerSessionCeiling)})`,
  );
}

async function main(): Promise<number> {
  const machine = await describeMachine();
  log(`ingest: ${ingestLoad.reports} reports at SQLite, then at PostgreSQL`);
  const ingest = await compareIngest();
  log(`idle: ${idleLoad.stations} tunnels on one node on PostgreSQL`);
  const idle = await idleTunnelsOnPostgres();
  log(`peer sessions: ${peerLoad.sessions} set-ups through node A and through node B`);
  const peer = await measurePeerSessionSetup();
  printFigures(machine, ingest, idle, peer);

  const round = (value: number): number => Math.round(value);
  mkdirSync(dirname(outPath), { recursive: true });
  const json = {
    smoke,
    machine,
    ingest: {
      load: ingestLoad,
      sqliteReportsPerSecond: round(ingest.sqlite.ingestedPerSecond),
      postgresReportsPerSecond: round(ingest.postgres.ingestedPerSecond),
      ratio: Math.round(ingest.ratio * 1000) / 1000,
      floor: ingestFloor,
      met: ingest.ratio >= ingestFloor,
    },
    idle: { load: idleLoad, ...idle },
    peerSessionSetup: { ...peer, ceiling: peerSessionCeiling, met: peer.ratio <= peerSessionCeiling },
  };
  writeFileSync(outPath, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nJSON: ${outPath}`);
  const missed = !json.ingest.met || !json.peerSessionSetup.met;
  return missed && !smoke ? 1 : 0;
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
