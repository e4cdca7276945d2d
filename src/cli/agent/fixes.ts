// `lifeline agent fixes` and `lifeline agent fix download`: run in the CLI process with the data
// directory's station identity and pinned keys, so a download needs no running agent. What was
// downloaded or refused goes to the agent's audit log: through the running agent's admin API, or,
// when no agent runs, through the agent's audit component on agent.db (see agent-writes.ts).

import type { Command } from 'commander';
import {
  chooseFix,
  downloadFix,
  fetchCatalog,
  listFixDownloads,
  openFixContext,
  recordFixEvent,
  type FixContext,
  type FixDownload,
  type FixEvent,
} from '../../agent/index.js';
import { LifelineError } from '../../common/errors.js';
import type { FixStatement } from '../../protocol/index.js';
import { formatBytes } from '../../common/bytes.js';
import { startByteProgress, type ByteProgress } from '../fix-progress.js';
import { printError, printJson, printLine, printTable, tty } from '../io.js';
import { offlineActor, viaAgentOrOffline } from './agent-writes.js';

function recordEvent(dataDir: string, event: FixEvent): Promise<void> {
  return viaAgentOrOffline(
    dataDir,
    async (client) => {
      await client.request('POST', '/v1/fixes/events', event);
    },
    ({ audit }) =>
      recordFixEvent((action, detail, with_) => audit.record(offlineActor, action, detail, with_), event),
  );
}

function downloads(dataDir: string): Promise<FixDownload[]> {
  return viaAgentOrOffline(
    dataDir,
    async (client) =>
      (await client.request<{ downloads: FixDownload[] }>('GET', '/v1/fixes/downloads')).downloads,
    ({ store }) => listFixDownloads(store),
  );
}

function noteCatalog(context: FixContext, unverified: number): void {
  if (unverified > 0)
    printError(
      tty`warning: ${unverified} fix statement(s) from the hub are not signed by the pinned fix key and are not shown`,
    );
  if (context.model === undefined)
    printError(tty`note: agent.yaml has no appliance.model, so only fixes for every model are shown`);
}

export function registerAgentFixCommands(agent: Command): void {
  agent
    .command('fixes')
    .description("fixes the hub publishes for this appliance's model, verified with the pinned fix key")
    .requiredOption('--data <dir>', 'agent data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const context = openFixContext(opts.data);
      let catalog: Awaited<ReturnType<typeof fetchCatalog>>;
      try {
        catalog = await fetchCatalog(context);
      } finally {
        context.client.close();
      }
      noteCatalog(context, catalog.unverified);
      const done = await downloads(opts.data);
      const rows = catalog.fixes.map((fix) => {
        const here = done.find(
          (d) => d.name === fix.name && d.version === fix.version && d.sha256 === fix.sha256,
        );
        return { ...fix, downloaded: here !== undefined, downloadedTo: here?.path ?? null };
      });
      if (opts.json) {
        printJson(rows);
        return;
      }
      printTable(
        rows.map((r) => ({
          name: r.name,
          version: r.version,
          size: formatBytes(r.size),
          published: r.publishedAt,
          downloaded: r.downloadedTo ?? 'no',
        })),
        ['name', 'version', 'size', 'published', 'downloaded'],
      );
    });

  const fix = agent.command('fix').description('one fix from the hub');
  fix
    .command('download <name>')
    .description(
      'download a fix into DIR (resuming DIR/FILE.part), verify its signature, size and SHA-256, then keep it',
    )
    .requiredOption('--data <dir>', 'agent data directory')
    .requiredOption('--out <dir>', 'directory to put the fix in')
    .option('--version <version>', 'this version (default: the newest published for this appliance)')
    .action(async (name: string, opts: { data: string; out: string; version?: string }) => {
      let context: FixContext | undefined;
      let statement: FixStatement | undefined;
      let progress: ByteProgress | undefined;
      try {
        context = openFixContext(opts.data);
        const catalog = await fetchCatalog(context);
        noteCatalog(context, catalog.unverified);
        statement = chooseFix(catalog.fixes, name, opts.version, context.model);
        const chosen = statement;
        const result = await downloadFix({
          client: context.client,
          fix: chosen,
          outDir: opts.out,
          onProgress: (doneBytes, totalBytes) => {
            progress ??= startByteProgress(tty`${chosen.name} ${chosen.version}`, totalBytes, doneBytes);
            progress.update(doneBytes);
          },
        });
        progress?.stop();
        if (result.alreadyPresent) {
          printLine(tty`Fix ${chosen.name} ${chosen.version} is in ${result.path} already (verified)`);
          return;
        }
        await recordEvent(opts.data, {
          event: 'downloaded',
          name: chosen.name,
          version: chosen.version,
          size: chosen.size,
          sha256: chosen.sha256,
          path: result.path,
          resumedFromBytes: result.resumedFromBytes,
        });
        if (result.resumedFromBytes > 0)
          printError(tty`resumed after ${formatBytes(result.resumedFromBytes)} already downloaded`);
        printLine(tty`Downloaded fix ${chosen.name} ${chosen.version} to ${result.path}`);
        printLine(
          tty`  ${formatBytes(chosen.size)}, sha256 ${chosen.sha256}, signed by the pinned hub fix key`,
        );
      } catch (err) {
        progress?.stop();
        const refused =
          err instanceof LifelineError &&
          (err.code === 'CALLHOME_FIX_UNVERIFIED' || err.code === 'CALLHOME_FIX_KEY_MISSING');
        if (refused) {
          // The refusal is recorded if it can be; the error the admin sees is the refusal's.
          await recordEvent(opts.data, {
            event: 'refused',
            name,
            ...((statement?.version ?? opts.version) ? { version: statement?.version ?? opts.version } : {}),
            code: err.code,
            reason: err.message.slice(0, 2000),
          }).catch((recordErr: unknown) =>
            printError(tty`warning: the refusal could not be audited: ${(recordErr as Error).message}`),
          );
        }
        throw err;
      } finally {
        context?.client.close();
      }
    });
}
