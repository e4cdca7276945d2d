// `lifeline agent data-requests` and `agent data-request answer|decline ID`: the vendor's requests
// for more error data, as the appliance administrator sees and answers them. They talk to the
// running agent's admin API.

import type { Command } from 'commander';
import type { AgentDataRequest } from '../../agent/data-requests/index.js';
import { AdminClient } from '../admin-client.js';
import { ago, printJson, printLine, printTable, tty } from '../io.js';

const dataOption = ['--data <dir>', 'agent data directory'] as const;

export function registerAgentDataRequestCommands(agent: Command): void {
  agent
    .command('data-requests')
    .description("the vendor's requests for more error data about this appliance's problems")
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const { requests } = await new AdminClient(opts.data).request<{ requests: AgentDataRequest[] }>(
        'GET',
        '/v1/data-requests',
      );
      if (opts.json) {
        printJson(requests);
        return;
      }
      printTable(
        requests.map((r) => ({
          request: r.id,
          problem: r.localId,
          vendor: r.problemNumber,
          state: r.state + (r.state !== 'open' && r.answerDeliveredAtMs === null ? ' (not sent yet)' : ''),
          received: ago(new Date(r.receivedAtMs).toISOString()),
          note: r.note,
        })),
        ['request', 'problem', 'vendor', 'state', 'received', 'note'],
      );
    });

  const request = agent
    .command('data-request')
    .description('answer a request for more error data: attach the data first with problem update --attach');
  for (const action of ['answer', 'decline'] as const) {
    request
      .command(`${action} <id>`)
      .description(
        action === 'answer'
          ? 'tell the vendor the data was sent (attached to the problem)'
          : 'tell the vendor the data will not be sent',
      )
      .requiredOption(...dataOption)
      .option('--note <text>', 'a note for the vendor')
      .action(async (id: string, opts: { data: string; note?: string }) => {
        const result = await new AdminClient(opts.data).request<{ request: AgentDataRequest }>(
          'POST',
          `/v1/data-requests/${encodeURIComponent(id)}/${action}`,
          opts.note ? { note: opts.note } : {},
        );
        printLine(
          tty`Data request ${result.request.id} (problem ${result.request.localId}, ${result.request.problemNumber}) ${result.request.state}; the answer goes to the vendor on the call-home channel`,
        );
      });
  }
}
