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
  acceptedPerSecond: number;
  ingestedPerSecond: number;
  /** Commits per second of a bare SQLite table on the same disk (WAL, synchronous=FULL). */
  sqliteCommitsPerSecond: number;
}

/** One POST to the agent's admin API on a kept-alive connection; resolves with the status. */
function post(agent: HttpAgent, url: URL, token: string, body: string): Promise<number> {
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
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/** Submits `count` heartbeat-sized reports with `concurrency` clients; resolves with reports/s. */
export async function measureAccepts(options: {
  adminUrl: string;
  agentDir: string;
  count: number;
  concurrency: number;
}): Promise<number> {
  const token = readFileSync(join(options.agentDir, 'admin-token'), 'utf8').trim();
  const url = new URL('/v1/reports', options.adminUrl);
  const agent = new HttpAgent({ keepAlive: true, maxSockets: options.concurrency });
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const index = next++;
      const body = JSON.stringify({
        kind: 'generic',
        payload: { type: 'maintenance-statistics', data: { index, fanHours: index * 3, resets: index % 7 } },
      });
      const status = await post(agent, url, token, body);
      if (status !== 202) throw new Error(`report ${index}: the agent answered HTTP ${status}`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return options.count / seconds;
}

/** Polls the hub's database until it holds `count` reports; resolves with reports/s since `startMs`. */
export async function measureIngest(options: {
  hubDir: string;
  count: number;
  startedAt: number;
  timeoutMs: number;
}): Promise<number> {
  const db = new Database(join(options.hubDir, 'hub.db'), { readonly: true, fileMustExist: true });
  try {
    const query = db.prepare('select count(*) as n from reports');
    for (;;) {
      const { n } = query.get() as { n: number };
      const elapsedMs = performance.now() - options.startedAt;
      if (n >= options.count) return (n / elapsedMs) * 1000;
      if (elapsedMs > options.timeoutMs)
        throw new Error(`the hub holds ${n} of ${options.count} reports after ${elapsedMs.toFixed(0)} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    db.close();
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
