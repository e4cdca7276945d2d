// `lifeline hub ...`: set up and run the vendor hub, manage users, tokens and stations.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDurationMs, formatDurationMs } from '../../common/config/index.js';
import { describeLooseModes, findLooseModes } from '../../common/disk/index.js';
import { formatMode, writePrivateFile } from '../../common/disk/index.js';
import { createLogger, type Logger } from '../../common/logger.js';
import { Hub, enrollmentTokenId, hubPaths, initHub, loadHubConfig } from '../../hub/index.js';
import { certSha256 } from '../../pki/index.js';
import { encodeEnrollmentToken } from '../../protocol/index.js';
import { describePostgresUrl, openHubStore, type HubStore } from '../../hub/store/index.js';
import { openBlobStore, type BlobStore } from '../../hub/attachments/index.js';
import { printError, printJson, printLine, tty } from '../io.js';
import { registerHubProblemCommands } from './problems.js';
import { registerHubRetentionCommands } from './retention.js';
import { hubDataGroup, registerHubDataRequestCommand } from './data-request.js';
import { registerHubDataCommands } from './data.js';
import { registerHubFixCommands } from './fixes.js';
import { registerHubInventoryCommands } from './inventory.js';
import { registerHubStationCommands } from './stations.js';
import { registerHubRotateCommands } from './rotate.js';
import { registerHubUserCommands } from './users.js';
import { registerHubClusterCommands } from './cluster.js';

export async function withStore<T>(dataDir: string, work: (store: HubStore) => Promise<T>): Promise<T> {
  const config = loadHubConfig(dataDir);
  const store = await openHubStore({
    store: config.store,
    dataDir,
    sqlitePath: hubPaths(dataDir).database,
    applicationName: 'lifeline-hub-cli',
  });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Runs `work` with the hub's blob store (hub.yaml blobs:), closed afterwards. */
export async function withBlobStore<T>(dataDir: string, work: (blobs: BlobStore) => Promise<T>): Promise<T> {
  const blobs = openBlobStore(loadHubConfig(dataDir).blobs, dataDir);
  try {
    return await work(blobs);
  } finally {
    await blobs.close();
  }
}

export function registerHubCommands(program: Command): void {
  const hub = program
    .command('hub')
    .description('the vendor hub: set up, run, users, enrollment tokens, stations');

  hub
    .command('init')
    .description("create the hub's CA, certificates, ticket key and hub.yaml (with --store: a new cluster)")
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--listen <host:port>', 'station port (mutual TLS)', '127.0.0.1:8443')
    .option('--api-listen <host:port>', 'technician API (HTTPS)', '127.0.0.1:8444')
    .option('--public-url <url>', 'the URL stations and technicians use to reach this hub')
    .option(
      '--store <url>',
      'postgres://USER@HOST:PORT/DATABASE: create a cluster of hub nodes in this empty database',
    )
    .option('--node-name <name>', "this node's name in `hub nodes` (default: the host's name)")
    .action(
      async (opts: {
        data: string;
        listen: string;
        apiListen: string;
        publicUrl?: string;
        store?: string;
        nodeName?: string;
      }) => {
        const result = await initHub(opts.data, opts);
        const config = loadHubConfig(opts.data);
        printLine(tty`Hub initialized in ${opts.data}`);
        if (result.dataDirTightenedFrom !== undefined)
          printLine(
            tty`  data directory  now 0700 (it was ${formatMode(result.dataDirTightenedFrom)}): it holds the CA key, and the hub's users once it runs`,
          );
        printLine(tty`  configuration   ${result.configPath}`);
        printLine(tty`  CA certificate  ${result.caCertPath}  (give it to technicians for --ca-file)`);
        printLine(
          tty`  metrics token   ${result.metricsTokenPath}  (for Prometheus: GET /metrics on the API)`,
        );
        printLine(tty`  station port    ${config.listen}  (agents dial ${config.stationAddress})`);
        printLine(tty`  technician API  ${config.apiListen}  (${config.apiUrl})`);
        if (result.cluster) {
          printLine(
            tty`  cluster         ${result.cluster.id}  in ${describePostgresUrl(config.store.url ?? '')}`,
          );
          printLine(
            tty`  cluster key     ${result.cluster.keyPath}  (copy it to each new node for hub join --cluster-key-file; keep it secret)`,
          );
        }
        printLine(tty`Start it with: lifeline hub start --data ${opts.data}`);
      },
    );

  hub
    .command('start')
    .description(
      'run the hub in the foreground (SIGTERM or Ctrl-C drains it: running sessions may finish until drain.deadline, then it stops)',
    )
    .requiredOption('--data <dir>', 'hub data directory')
    .action(async (opts: { data: string }) => {
      const config = loadHubConfig(opts.data);
      const logger = createLogger({ name: 'hub', level: config.log.level });
      warnOfLooseModes(opts.data, logger);
      const running = await Hub.start({ dataDir: opts.data, logger });
      const signal = await waitForSignal();
      const deadlineMs = config.drain.deadline;
      logger.info(
        { signal, sessions: running.activeSessions, deadlineMs },
        'stop requested: draining the hub node',
      );
      // The drain's own deadline, and as long again as the close that follows may take today.
      await closeWithDeadline(() => running.drain({ deadlineMs }), deadlineMs + 10_000);
    });

  registerHubUserCommands(hub);

  const token = hub.command('token').description('enrollment tokens');
  token
    .command('create')
    .description('create a single-use, expiring enrollment token')
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--ttl <duration>', 'how long the token is valid (default: enrollmentTokenTtl in hub.yaml, 15m)')
    .option('--out <file>', 'write the token to this file (mode 0600) instead of standard output')
    .action(async (opts: { data: string; ttl?: string; out?: string }) => {
      const config = loadHubConfig(opts.data);
      const ttlMs = opts.ttl === undefined ? config.enrollmentTokenTtl : parseDurationMs(opts.ttl, '--ttl');
      const secret = randomBytes(32).toString('base64url');
      const caSha256 = certSha256(readFileSync(hubPaths(opts.data).caCert, 'utf8'));
      const nowMs = Date.now();
      await withStore(opts.data, async (store) => {
        await store.addEnrollmentToken({
          id: enrollmentTokenId(secret),
          createdAtMs: nowMs,
          expiresAtMs: nowMs + ttlMs,
          usedAtMs: null,
          usedByStation: null,
        });
        await store.appendAudit({
          atMs: nowMs,
          actor: 'operator@cli',
          action: 'token.create',
          stationId: null,
          detail: { ttlMs },
        });
      });
      const text = encodeEnrollmentToken({ hub: config.stationAddress, caSha256, secret });
      if (opts.out) {
        writePrivateFile(opts.out, text + '\n', true);
        printError(
          tty`Enrollment token written to ${opts.out} (single use, valid ${formatDurationMs(ttlMs)})`,
        );
      } else {
        printLine(tty`${text}`);
      }
    });

  registerHubAuditCommand(hub);
  registerHubProblemCommands(hub);
  registerHubRetentionCommands(hub);
  registerHubDataRequestCommand(hubDataGroup(hub));
  registerHubDataCommands(hubDataGroup(hub));
  registerHubFixCommands(hub);
  registerHubInventoryCommands(hub);

  registerHubStationCommands(hub);
  registerHubRotateCommands(hub);
  registerHubClusterCommands(hub);
}

export function registerHubAuditCommand(hub: Command): void {
  hub
    .command('audit')
    .description("the hub's audit log: logins, enrollments, tunnels, sessions, refusals")
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const entries = await withStore(opts.data, (store) => store.listAudit());
      if (opts.json) {
        printJson(entries);
        return;
      }
      for (const e of entries) {
        const station = e.stationId ?? '-';
        printLine(
          tty`${String(e.seq).padStart(5)}  ${new Date(e.atMs).toISOString()}  ${e.actor}  ${e.action}  ${station}  ${JSON.stringify(e.detail)}`,
        );
      }
    });
}

/**
 * `hub start` and `agent start`: every file or directory in the data directory that other local
 * users have access to, on standard error and in the log, each with its fix. Not fatal.
 */
export function warnOfLooseModes(dataDir: string, logger: Logger): void {
  const report = findLooseModes(dataDir);
  for (const entry of report.loose)
    logger.warn(
      { path: entry.path, mode: formatMode(entry.mode), fix: entry.fix },
      'a data file or directory is open to other local users',
    );
  if (report.unlisted > 0)
    logger.warn(
      { more: report.unlisted, fix: report.fixAll },
      'more data files are open to other local users',
    );
  for (const line of describeLooseModes(report)) printError(tty`warning: ${line}`);
}

export function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const done = (signal: string) => {
      process.removeListener('SIGTERM', onTerm);
      process.removeListener('SIGINT', onInt);
      resolve(signal);
    };
    const onTerm = () => done('SIGTERM');
    const onInt = () => done('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
  });
}

export async function closeWithDeadline(close: () => Promise<void>, deadlineMs: number): Promise<void> {
  const timer = setTimeout(() => {
    printError(tty`did not stop within ${deadlineMs} ms; exiting`);
    process.exit(1);
  }, deadlineMs);
  timer.unref();
  await close();
  clearTimeout(timer);
}
