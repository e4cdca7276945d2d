// `lifeline hub problems|problem`: the support engineer's view of problem reports.

import type { Command } from 'commander';
import { LifelineError } from '../common/errors.js';
import { withStore } from './hub.js';
import { ago, printJson, printTable } from './io.js';

export function registerHubProblemCommands(hub: Command): void {
  hub
    .command('problems')
    .description('problem tickets opened by stations')
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--open', 'only open problems')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; open?: boolean; json?: boolean }) => {
      const problems = await withStore(opts.data, (store) =>
        store.reports.listProblems({ open: opts.open === true }),
      );
      if (opts.json) {
        printJson(problems);
        return;
      }
      printTable(
        problems.map((p) => ({
          problem: p.number,
          station: p.stationId,
          severity: p.severity,
          state: p.state,
          opened: ago(new Date(p.openedAtMs).toISOString()),
          summary: p.summary,
        })),
        ['problem', 'station', 'severity', 'state', 'opened', 'summary'],
      );
    });

  const problem = hub.command('problem').description('one problem ticket');
  problem
    .command('show <number>')
    .requiredOption('--data <dir>', 'hub data directory')
    .action(async (number: string, opts: { data: string }) => {
      const found = await withStore(opts.data, async (store) => {
        const problem = await store.reports.getProblem(number);
        // Requests for more error data, each with its state and the appliance admin's note.
        return (
          problem && {
            ...problem,
            dataRequests: await store.dataRequests.listForProblem(number),
            // Its error data: id, name, size, SHA-256, state and bytes received of each file.
            attachments: await store.attachments.listForProblem(number),
          }
        );
      });
      if (!found) throw new LifelineError('API_NOT_FOUND', `no problem ${number}`);
      printJson(found);
    });
  problem
    .command('close <number>')
    .requiredOption('--data <dir>', 'hub data directory')
    .action(async (number: string, opts: { data: string }) => {
      await withStore(opts.data, async (store) => {
        if (!(await store.reports.closeProblem(number, Date.now()))) {
          throw new LifelineError('API_NOT_FOUND', `no open problem ${number}`);
        }
        await store.appendAudit({
          atMs: Date.now(),
          actor: 'support@cli',
          action: 'problem.closed',
          stationId: null,
          detail: { problemNumber: number },
        });
      });
      console.log(`Problem ${number} closed`);
    });
}
