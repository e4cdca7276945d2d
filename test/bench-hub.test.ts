// The hub benchmark (bench/hub/run.ts) in its smoke mode, so that it keeps running as the hub
// changes: both stores ingest the whole load, every idle tunnel is held and counted by the node and
// by the cluster, sessions are set up through node A and through node B (the peer), and the
// databases it made are dropped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { repoRoot } from './harness/cluster.js';
import { adminPostgresUrl } from './harness/postgres.js';

interface HubBenchJson {
  smoke: boolean;
  machine: { node: string; postgres: string; cores: number };
  ingest: {
    load: { reports: number };
    sqliteReportsPerSecond: number;
    postgresReportsPerSecond: number;
    ratio: number;
  };
  idle: {
    stations: number;
    heldByMetrics: number;
    heldByCluster: number;
    rssKiBPerTunnel: number;
    heapKiBPerTunnel: number;
  };
  peerSessionSetup: { sessions: number; localP50Ms: number; peerP50Ms: number; ratio: number };
}

test('bench/hub --smoke ingests on SQLite and PostgreSQL, holds idle tunnels, sets up sessions through a peer node, and drops its databases', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-hub-test-'));
  try {
    const outPath = join(dir, 'hub.json');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join('bench', 'hub', 'run.ts'), '--smoke', '--out', outPath],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 240_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    assert.equal(code, 0, `the smoke run failed:\n${stderr}\n${stdout}`);

    const figures = JSON.parse(readFileSync(outPath, 'utf8')) as HubBenchJson;
    assert.equal(figures.smoke, true);
    assert.equal(figures.machine.node, process.version);
    assert.match(figures.machine.postgres, /^\d+/);
    for (const perSecond of [figures.ingest.sqliteReportsPerSecond, figures.ingest.postgresReportsPerSecond])
      assert.ok(Number.isFinite(perSecond) && perSecond > 0, `reports/s ${perSecond}`);
    const ratio = figures.ingest.postgresReportsPerSecond / figures.ingest.sqliteReportsPerSecond;
    assert.ok(
      Math.abs(figures.ingest.ratio - ratio) < 0.01 * ratio + 0.001,
      'the ratio is PostgreSQL/SQLite',
    );
    assert.equal(figures.idle.heldByMetrics, figures.idle.stations);
    assert.equal(figures.idle.heldByCluster, figures.idle.stations);
    assert.ok(Number.isFinite(figures.idle.rssKiBPerTunnel));
    assert.ok(Number.isFinite(figures.idle.heapKiBPerTunnel));
    const peer = figures.peerSessionSetup;
    assert.ok(peer.localP50Ms > 0 && peer.peerP50Ms > 0, JSON.stringify(peer));
    assert.ok(
      Math.abs(peer.ratio - peer.peerP50Ms / peer.localP50Ms) < 0.01 * peer.ratio,
      'the ratio is peer/local',
    );

    assert.match(stdout, /SQLite\s+\d+ reports\/s/);
    assert.match(stdout, /PostgreSQL\s+\d+ reports\/s/);
    assert.match(stdout, /ratio\s+\d+\.\d\dx SQLite/);
    assert.match(stdout, /KiB per tunnel/);
    assert.match(stdout, /p50\s+local [\d.]+ ms, through a peer [\d.]+ ms: \d+\.\d\dx/);

    // createTestDatabase names each database after the process that made it.
    const admin = new pg.Client({ connectionString: adminPostgresUrl });
    await admin.connect();
    try {
      const left = await admin.query(`select datname from pg_database where datname like $1`, [
        `lifeline_bench_${String(child.pid)}_%`,
      ]);
      assert.deepEqual(left.rows, [], 'the databases the benchmark made are dropped');
    } finally {
      await admin.end();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
