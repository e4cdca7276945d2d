// One hub node for the hub benchmark: the real `lifeline hub init` + `hub start` on SQLite (a file
// in its data directory) or on PostgreSQL (`hub init --store`, a new cluster in an empty database),
// with hub.yaml adjusted before it starts, its reports counted from the store and its Prometheus
// metrics read from the technician API.

import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import pg from 'pg';
import { hubPaths } from '../../src/hub/index.js';
import { mergeIntoYaml } from '../../test/harness/cluster.js';
import { sqliteReportCounter, type ReportCounter } from '../callhome/reports.js';
import { startHub, type HubHandle } from '../tunnel/lifeline-setup.js';
import type { ProcessGroup } from '../tunnel/processes.js';

export type BenchStore = { kind: 'sqlite' } | { kind: 'postgres'; url: string };

export interface HubNode extends HubHandle {
  store: BenchStore;
  /** Counts the benchmark's reports (kind generic) in the node's store. */
  reportCounter(): ReportCounter;
  /** The node's unlabelled metrics from GET /metrics, by name (e.g. lifeline_hub_tunnels_connected). */
  scrapeMetrics(): Promise<Map<string, number>>;
  /**
   * V8 heap in use right after a full collection, in KiB (needs `heapSnapshots`). Writing a heap
   * snapshot is the one way to make another process collect everything; it leaves the node's RSS
   * hundreds of MiB higher, so take RSS readings before the first call.
   */
  heapUsedAfterFullGcKiB(): Promise<number>;
}

export interface StartHubNodeOptions {
  group: ProcessGroup;
  /** The node's data directory is `dir`/hub. */
  dir: string;
  env: NodeJS.ProcessEnv;
  store: BenchStore;
  /** Merged into hub.yaml before the node starts. */
  hubYaml?: Record<string, unknown>;
  /** Runs after hub.yaml is adjusted, before the node starts (e.g. to add enrollment tokens). */
  beforeStart?: (hubDir: string) => Promise<void>;
  /** Starts the node so that SIGUSR2 writes a heap snapshot (for heapUsedAfterFullGcKiB). */
  heapSnapshots?: boolean;
}

const snapshotSignal = 'SIGUSR2';
const snapshotTimeoutMs = 120_000;

export async function startHubNode(options: StartHubNodeOptions): Promise<HubNode> {
  const { store } = options;
  const initArgs = store.kind === 'postgres' ? ['--store', store.url, '--node-name', 'bench'] : [];
  const snapshotDir = join(options.dir, 'heap-snapshots');
  let env = options.env;
  if (options.heapSnapshots === true) {
    mkdirSync(snapshotDir, { recursive: true });
    const nodeOptions = `--heapsnapshot-signal=${snapshotSignal} --diagnostic-dir=${snapshotDir}`;
    env = { ...env, NODE_OPTIONS: [env.NODE_OPTIONS, nodeOptions].filter(Boolean).join(' ') };
  }
  const handle = await startHub(
    options.group,
    options.dir,
    env,
    async (hubDir) => {
      if (options.hubYaml !== undefined) mergeIntoYaml(hubPaths(hubDir).config, options.hubYaml);
      await options.beforeStart?.(hubDir);
    },
    initArgs,
  );
  const paths = hubPaths(handle.hubDir);
  const scrapeToken = readFileSync(paths.metricsToken, 'utf8').trim();
  const caPem = readFileSync(paths.caCert, 'utf8');
  const scrapeMetrics = async (): Promise<Map<string, number>> =>
    parseMetrics(await getText(`https://127.0.0.1:${handle.apiPort}/metrics`, scrapeToken, caPem));
  return {
    ...handle,
    store,
    reportCounter: () =>
      store.kind === 'postgres' ? postgresReportCounter(store.url) : sqliteReportCounter(paths.database),
    scrapeMetrics,
    heapUsedAfterFullGcKiB: async () => {
      if (options.heapSnapshots !== true) throw new Error('the hub node was started without heapSnapshots');
      await writeHeapSnapshot(handle, snapshotDir);
      // The snapshot is written synchronously by a signal handler on the node's event loop, so the
      // scrape is answered once it is done, with what the collection before it left.
      const heapBytes = (await scrapeMetrics()).get('lifeline_hub_nodejs_heap_size_used_bytes');
      for (const name of readdirSync(snapshotDir)) rmSync(join(snapshotDir, name), { force: true });
      if (heapBytes === undefined)
        throw new Error('the hub metrics have no lifeline_hub_nodejs_heap_size_used_bytes');
      return Math.round(heapBytes / 1024);
    },
  };
}

/** Signals the node to write a heap snapshot; resolves once the snapshot's file exists. */
async function writeHeapSnapshot(handle: HubHandle, snapshotDir: string): Promise<void> {
  const already = new Set(readdirSync(snapshotDir));
  process.kill(handle.process.pid, snapshotSignal);
  const deadline = Date.now() + snapshotTimeoutMs;
  while (!readdirSync(snapshotDir).some((name) => !already.has(name))) {
    handle.process.assertRunning();
    if (Date.now() > deadline) throw new Error(`no heap snapshot from the hub in ${snapshotTimeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function postgresReportCounter(url: string): ReportCounter {
  const client = new pg.Client({ connectionString: url, application_name: 'lifeline-bench' });
  const connected = client.connect();
  return {
    count: async () => {
      await connected;
      const result = await client.query<{ n: string }>(
        `select count(*) as n from reports where kind = 'generic'`,
      );
      return Number(result.rows[0]?.n ?? 0);
    },
    close: async () => {
      await connected.catch(() => undefined);
      await client.end();
    },
  };
}

function getText(url: string, bearer: string, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${bearer}` }, ca: caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(text);
        else reject(new Error(`GET ${url}: HTTP ${String(res.statusCode)}: ${text.slice(0, 300)}`));
      });
    });
    req.once('error', reject);
    req.end();
  });
}

/** Prometheus text format, samples without labels only: `name value`. */
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], Number(match[2]));
  }
  return values;
}
