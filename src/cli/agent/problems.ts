// `lifeline agent problems`: the appliance's problem list, and what `problem open` prints once the
// report is accepted (the local id at once, the vendor's problem number if the hub answers soon).

import type { Command } from 'commander';
import type { ProblemAccepted, ProblemView } from '../../agent/callhome/index.js';
import { AdminClient } from '../admin-client.js';
import { ago, printJson, printLine, printTable, tty } from '../io.js';

/** How long `problem open` waits for the hub's answer before it leaves the number to `agent problems`. */
const vendorNumberWaitMs = 5000;

function vendorColumn(problem: ProblemView): string {
  if (problem.vendorNumber) return problem.vendorNumber;
  if (problem.openReportState === 'held') return 'held';
  if (problem.openReportState === 'rejected') return 'refused';
  return 'pending';
}

export function registerAgentProblemsCommand(agent: Command): void {
  agent
    .command('problems')
    .description("the appliance's problems, with the vendor's problem numbers")
    .requiredOption('--data <dir>', 'agent data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const { problems } = await new AdminClient(opts.data).request<{ problems: ProblemView[] }>(
        'GET',
        '/v1/problems',
      );
      if (opts.json) {
        printJson(problems);
        return;
      }
      printTable(
        problems.map((p) => ({
          id: p.localId,
          vendor: vendorColumn(p),
          state: p.state,
          severity: p.severity,
          system: p.system?.serial ?? 'appliance',
          code: p.referenceCode ?? '',
          summary: p.summary.length > 60 ? `${p.summary.slice(0, 59)}…` : p.summary,
          opened: ago(new Date(p.openedAtMs).toISOString()),
          occurrences: String(p.occurrences),
        })),
        ['id', 'vendor', 'state', 'severity', 'system', 'code', 'summary', 'opened', 'occurrences'],
      );
    });
}

/** Prints the outcome of `problem open`, then waits a little for the vendor's problem number. */
export async function printProblemOpened(client: AdminClient, result: ProblemAccepted): Promise<void> {
  if (result.reportedAgain) {
    printLine(
      tty`Problem ${result.localId} was reported again: occurrence ${result.occurrences}, no new problem opened (report ${result.report.id})`,
    );
  } else {
    printLine(
      tty`Problem ${result.localId} accepted (report ${result.report.id}); it is sent to the vendor from the outbox`,
    );
  }
  if (result.report.held) {
    printLine(
      tty`The report is held for review: release it with lifeline agent release ${result.report.id} (or --all)`,
    );
    return;
  }
  const deadline = Date.now() + vendorNumberWaitMs;
  for (;;) {
    const { problem } = await client.request<{ problem: ProblemView }>(
      'GET',
      `/v1/problems/${encodeURIComponent(result.localId)}`,
    );
    if (problem.vendorNumber) {
      printLine(tty`Vendor problem number: ${problem.vendorNumber}`);
      return;
    }
    if (problem.openReportState === 'rejected') {
      printLine(tty`The hub refused the report: see lifeline agent outbox`);
      return;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  printLine(
    tty`The hub has not answered yet: the vendor's problem number will show in lifeline agent problems`,
  );
}
