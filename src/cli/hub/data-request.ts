// `lifeline hub data request PROBLEM --note TEXT`: a support engineer asks the appliance for more
// error data. The request waits at the hub until the station's next call-home poll.

import type { Command } from 'commander';
import { LifelineError } from '../../common/errors.js';
import { withStore } from './hub.js';
import { printJson, printLine, tty } from '../io.js';

/** The `hub data` group, made once: other sub-commands of problem data join the same group. */
export function hubDataGroup(hub: Command): Command {
  return (
    hub.commands.find((c) => c.name() === 'data') ??
    hub.command('data').description('problem data: offload, delete, or ask the appliance for more')
  );
}

export function registerHubDataRequestCommand(data: Command): void {
  data
    .command('request <problem>')
    .description('ask the appliance for more error data about a problem (it learns of it on its next poll)')
    .requiredOption('--data <dir>', 'hub data directory')
    .requiredOption('--note <text>', 'what is needed, for the appliance administrator')
    .option('--json', 'print JSON')
    .action(async (problem: string, opts: { data: string; note: string; json?: boolean }) => {
      const note = opts.note.trim();
      if (!note || note.length > 20_000)
        throw new LifelineError('API_BAD_REQUEST', '--note: expected 1 to 20000 characters');
      const nowMs = Date.now();
      const created = await withStore(opts.data, (store) =>
        store.dataRequests.create(
          { problemNumber: problem, note, requestedBy: 'support@cli', nowMs },
          (r) => ({
            atMs: nowMs,
            actor: 'support@cli',
            action: 'data.requested',
            stationId: r.stationId,
            detail: { requestId: r.id, problemNumber: r.problemNumber, note },
          }),
        ),
      );
      if (opts.json) printJson(created);
      else
        printLine(
          tty`Data request ${created.id} for problem ${created.problemNumber} recorded; station ${created.stationId} receives it when it next calls home`,
        );
    });
}
