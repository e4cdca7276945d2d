// `lifeline hub problems|problem`: the support engineer's view of problem reports.

import type { Command } from 'commander';
import { LifelineError } from '../../common/errors.js';
import { withStore } from './hub.js';
import type { HubAttachment } from '../../hub/store/index.js';
import type { HubDataRequest } from '../../hub/store/index.js';
import type { ProblemRecord, StoredReport } from '../../hub/store/index.js';
import { formatBytes } from '../../common/bytes.js';
import { ago, printJson, printLine, printTable, tty } from '../io.js';

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
    .description('the ticket, its reports, its error data and the requests for more')
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--json', 'print JSON')
    .action(async (number: string, opts: { data: string; json?: boolean }) => {
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
      if (opts.json) printJson(found);
      else printProblem(found);
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
      printLine(tty`Problem ${number} closed`);
    });
}

/** When a time was, in full and relative to now; '-' when it never was. */
function when(ms: number | null): string {
  if (ms === null) return '-';
  const iso = new Date(ms).toISOString();
  return `${iso} (${ago(iso)})`;
}

function printProblem(found: {
  problem: ProblemRecord;
  reports: StoredReport[];
  dataRequests: HubDataRequest[];
  attachments: HubAttachment[];
}): void {
  const { problem } = found;
  const fields: [string, string][] = [
    ['station', `${problem.stationId} (${problem.localId} on the appliance)`],
    ['severity', problem.severity],
    ['summary', problem.summary],
    ['reference code', problem.referenceCode ?? '-'],
    ['system serial', problem.systemSerial ?? '-'],
    ['opened', when(problem.openedAtMs)],
    ['updated', when(problem.updatedAtMs)],
    ['closed', when(problem.closedAtMs)],
  ];
  printLine(tty`Problem ${problem.number} (${problem.state})`);
  for (const [name, value] of fields) printLine(tty`  ${name.padEnd(15)}${value}`);
  printLine(tty`\nReports (${found.reports.length})`);
  if (found.reports.length > 0)
    printTable(
      found.reports.map((r) => ({
        received: new Date(r.receivedAtMs).toISOString(),
        kind: r.kind,
        id: r.id,
        sha256: r.sha256,
      })),
      ['received', 'kind', 'id', 'sha256'],
    );
  printLine(tty`\nError data (${found.attachments.length})`);
  if (found.attachments.length > 0)
    printTable(
      found.attachments.map((a) => ({
        id: a.id,
        name: a.name,
        size: formatBytes(a.bytes),
        state: a.state,
        received: formatBytes(a.receivedBytes),
        sha256: a.sha256,
      })),
      ['id', 'name', 'size', 'state', 'received', 'sha256'],
    );
  printLine(tty`\nRequests for more error data (${found.dataRequests.length})`);
  if (found.dataRequests.length > 0)
    printTable(
      found.dataRequests.map((r) => ({
        id: r.id,
        state: r.state,
        requested: `${ago(new Date(r.requestedAtMs).toISOString())} by ${r.requestedBy}`,
        fetched: r.fetchedAtMs === null ? 'not yet' : ago(new Date(r.fetchedAtMs).toISOString()),
        note: r.note,
        answer: r.answerNote ?? '-',
      })),
      ['id', 'state', 'requested', 'fetched', 'note', 'answer'],
    );
}
