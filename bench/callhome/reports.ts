// Durable report throughput: how many reports per second the agent accepts (each committed to its
// outbox before the answer) and how many the hub ingests (each stored once, committed), with a bare
// SQLite commit-per-row loop on the same disk as the baseline.

import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export interface ReportFigures {
  reports: number;
  concurrency: number;
  /** One report per request, `concurrency` clients. */
  acceptedPerSecond: number;
  /** 100 reports per request (POST /v1/reports/batch), 4 clients. */
  acceptedBatchedPerSecond: number;
  ingestedPerSecond: number;
  /** Commits per second of a bare SQLite table on the same disk (WAL, synchronous=FULL). */
  sqliteCommitsPerSecond: number;
}

/** One POST to the agent's admin API on a kept-alive connection; resolves with the status and answer. */
function post(
  agent: HttpAgent,
  url: URL,
  token: string,
  body: string,
): Promise<{ status: number; answer: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, answer: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/** Resumes call home through the admin API (no CLI start-up in the measured time). */
export async function resumeCallHome(adminUrl: string, agentDir: string): Promise<void> {
  const token = readFileSync(join(agentDir, 'admin-token'), 'utf8').trim();
  const response = await fetch(new URL('/v1/callhome/pause', adminUrl), {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw new Error(`resume: the agent answered HTTP ${response.status}`);
}

/**
 * Submits `count` small reports with `concurrency` clients, `perRequest` reports per request
 * (1: POST /v1/reports; more: POST /v1/reports/batch); resolves with reports per second.
 */
export async function measureAccepts(options: {
  adminUrl: string;
  agentDir: string;
  count: number;
  concurrency: number;
  perRequest: number;
}): Promise<number> {
  const token = readFileSync(join(options.agentDir, 'admin-token'), 'utf8').trim();
  const single = options.perRequest === 1;
  const url = new URL(single ? '/v1/reports' : '/v1/reports/batch', options.adminUrl);
  const agent = new HttpAgent({ keepAlive: true, maxSockets: options.concurrency });
  const report = (index: number) => ({
    kind: 'generic',
    payload: { type: 'maintenance-statistics', data: { index, fanHours: index * 3, resets: index % 7 } },
  });
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const first = next;
      next = Math.min(options.count, next + options.perRequest);
      const reports = Array.from({ length: next - first }, (_, i) => report(first + i));
      const body = JSON.stringify(single ? reports[0] : { reports });
      const { status, answer } = await post(agent, url, token, body);
      if (status !== (single ? 202 : 200))
        throw new Error(`reports from ${first}: the agent answered HTTP ${status}: ${answer}`);
      if (!single) {
        const results = (JSON.parse(answer) as { results: { status: number }[] }).results;
        const refused = results.filter((r) => r.status !== 202).length;
        if (refused > 0)
          throw new Error(`reports from ${first}: ${refused} refused: ${answer.slice(0, 300)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return options.count / seconds;
}

/** How many of the benchmark's reports the hub holds, read from its store by another connection. */
export interface ReportCounter {
  count(): Promise<number>;
  close(): Promise<void>;
}

/** The benchmark's reports (kind generic) in a hub's SQLite file, read only. */
export function sqliteReportCounter(databasePath: string): ReportCounter {
  const db = new Database(databasePath, { readonly: true, fileMustExist: true });
  const query = db.prepare(`select count(*) as n from reports where kind = 'generic'`);
  return {
    count: () => Promise.resolve((query.get() as { n: number }).n),
    close: () => Promise.resolve(void db.close()),
  };
}

/**
 * Polls the hub's store until it holds `count` reports more than `already`; resolves with reports
 * per second since `startedAt`.
 */
export async function measureIngest(options: {
  counter: ReportCounter;
  count: number;
  already?: number;
  startedAt: number;
  timeoutMs: number;
}): Promise<number> {
  const already = options.already ?? 0;
  for (;;) {
    const n = (await options.counter.count()) - already;
    const elapsedMs = performance.now() - options.startedAt;
    if (n >= options.count) return (n / elapsedMs) * 1000;
    if (elapsedMs > options.timeoutMs)
      throw new Error(`the hub holds ${n} of ${options.count} reports after ${elapsedMs.toFixed(0)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The disk's floor: one committed row per transaction, as a naive outbox would do. */
export function measureSqliteCommits(dir: string, count: number): number {
  const db = new Database(join(dir, 'baseline.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('create table if not exists t (id integer primary key, body text not null)');
  const insert = db.prepare('insert into t (body) values (?)');
  const started = performance.now();
  for (let i = 0; i < count; i++) insert.run(`{"index":${i},"padding":"${'x'.repeat(200)}"}`);
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return count / seconds;
}
