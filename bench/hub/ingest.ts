// Reports ingested per second by one hub node: a real agent (its own process, enrolled through the
// CLI) holds `reports` reports in its outbox while call home is paused, then sends them through the
// real call-home path; the time runs from the resume until the hub's store holds every one. The
// same load, built the same way, is driven at each store.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { measureAccepts, measureIngest, resumeCallHome } from '../callhome/reports.js';
import { runLifeline, startLifeline } from '../tunnel/lifeline-setup.js';
import { freePorts, waitForListen } from '../tunnel/ports.js';
import type { ProcessGroup } from '../tunnel/processes.js';
import { startHubNode, type BenchStore } from './hub-node.js';

export interface IngestLoad {
  reports: number;
  /** Reports per POST /v1/reports/batch while the outbox fills (not measured here). */
  perRequest: number;
  clients: number;
  timeoutMs: number;
}

export interface IngestFigures {
  store: BenchStore['kind'];
  reports: number;
  ingestedPerSecond: number;
  seconds: number;
}

export async function measureHubIngest(options: {
  group: ProcessGroup;
  dir: string;
  store: BenchStore;
  load: IngestLoad;
  log: (message: string) => void;
}): Promise<IngestFigures> {
  const { group, dir, store, load, log } = options;
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, LIFELINE_HOME: join(dir, 'home') };
  log(`${store.kind}: starting a hub node and an agent`);
  const hub = await startHubNode({ group, dir, env, store });
  const tokenFile = join(dir, 'enroll.token');
  await runLifeline(['hub', 'token', 'create', '--data', hub.hubDir, '--out', tokenFile], { env });
  const agentDir = join(dir, 'agent');
  await runLifeline(['agent', 'enroll', '--data', agentDir, '--token-file', tokenFile], { env });
  // Room for every report of the run in the outbox (the default bound is 10,000 waiting).
  const agentYaml = join(agentDir, 'agent.yaml');
  const config = (parseYaml(readFileSync(agentYaml, 'utf8')) ?? {}) as { callhome?: Record<string, unknown> };
  config.callhome = { ...config.callhome, maxPending: load.reports + 1000 };
  writeFileSync(agentYaml, stringifyYaml(config));
  const [adminPort] = (await freePorts(1)) as [number];
  const agent = startLifeline(
    group,
    `lifeline agent (${store.kind})`,
    ['agent', 'start', '--data', agentDir, '--admin-listen', `127.0.0.1:${adminPort}`],
    env,
  );
  await waitForListen(adminPort, 'agent admin API', {
    timeoutMs: 20_000,
    check: () => {
      agent.assertRunning();
      hub.process.assertRunning();
    },
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  await runLifeline(['agent', 'callhome', 'pause', '--for', '1h', '--data', agentDir], { env });
  log(`${store.kind}: ${load.reports} reports into the agent's outbox (call home paused)`);
  await measureAccepts({
    adminUrl,
    agentDir,
    count: load.reports,
    concurrency: load.clients,
    perRequest: load.perRequest,
  });

  const counter = hub.reportCounter();
  try {
    const already = await counter.count();
    log(`${store.kind}: call home resumed, the hub ingesting`);
    const startedAt = performance.now();
    await resumeCallHome(adminUrl, agentDir);
    const ingestedPerSecond = await measureIngest({
      counter,
      count: load.reports,
      already,
      startedAt,
      timeoutMs: load.timeoutMs,
    });
    hub.process.assertRunning();
    return {
      store: store.kind,
      reports: load.reports,
      ingestedPerSecond,
      seconds: load.reports / ingestedPerSecond,
    };
  } finally {
    await counter.close();
    await agent.stop();
    await hub.process.stop();
  }
}
