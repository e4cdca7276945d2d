// `lifeline hub fix publish|fixes`: the vendor's fix catalog, signed with the hub's fix key.

import type { Command } from 'commander';
import { systemClock } from '../../common/clock.js';
import { ensureFixKey, hubPaths, publishFix } from '../../hub/index.js';
import { formatBytes } from '../../common/bytes.js';
import { startByteProgress } from '../fix-progress.js';
import { withStore } from './hub.js';
import { printJson, printLine, printTable, tty } from '../io.js';

export function registerHubFixCommands(hub: Command): void {
  const fix = hub.command('fix').description('fixes published to stations');
  fix
    .command('publish <file>')
    .description(
      'copy FILE into the hub, sign its statement (name, version, models, size, SHA-256) and publish it',
    )
    .requiredOption('--data <dir>', 'hub data directory')
    .requiredOption('--name <name>', 'name of the fix')
    .requiredOption('--version <version>', 'version of the fix; a name and version are published once')
    .option('--applies-to <model...>', 'appliance models the fix is for (default: every model)', [])
    .option('--description <text>', 'what the fix does')
    .action(
      async (
        file: string,
        opts: { data: string; name: string; version: string; appliesTo: string[]; description?: string },
      ) => {
        const paths = hubPaths(opts.data);
        const record = await withStore(opts.data, async (store) => {
          const signer = ensureFixKey(paths);
          let progress: ReturnType<typeof startByteProgress> | undefined;
          try {
            return await publishFix({
              dataDir: opts.data,
              fixesDir: paths.fixesDir,
              file,
              name: opts.name,
              version: opts.version,
              appliesTo: opts.appliesTo,
              description: opts.description,
              store,
              signer,
              clock: systemClock,
              actor: 'operator@cli',
              onProgress: (done, total) => {
                progress ??= startByteProgress(tty`publishing ${opts.name} ${opts.version}`, total);
                progress.update(done);
              },
            });
          } finally {
            progress?.stop();
          }
        });
        printLine(tty`Published fix ${record.name} ${record.version}`);
        printLine(tty`  file     ${record.path} (${formatBytes(record.size)})`);
        printLine(tty`  sha256   ${record.sha256}`);
        printLine(
          tty`  for      ${record.appliesTo.length === 0 ? 'every model' : record.appliesTo.join(', ')}`,
        );
      },
    );

  hub
    .command('fixes')
    .description('published fixes')
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const fixes = await withStore(opts.data, (store) => store.fixes.list());
      if (opts.json) {
        printJson(
          fixes.map(({ statement: _statement, publishedAtMs, ...fix }) => ({
            ...fix,
            publishedAt: new Date(publishedAtMs).toISOString(),
          })),
        );
        return;
      }
      printTable(
        fixes.map((f) => ({
          name: f.name,
          version: f.version,
          file: f.fileName,
          size: formatBytes(f.size),
          for: f.appliesTo.length === 0 ? 'every model' : f.appliesTo.join(', '),
          published: new Date(f.publishedAtMs).toISOString(),
        })),
        ['name', 'version', 'file', 'size', 'for', 'published'],
      );
    });
}
