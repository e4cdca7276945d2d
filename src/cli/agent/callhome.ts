// `lifeline agent problem|outbox|sent|release`: call home from the appliance administrator's side.
// They talk to the running agent's admin API.

import type { Command } from 'commander';
import { parseDurationMs } from '../../common/config/index.js';
import { LifelineError } from '../../common/errors.js';
import type { OutboxItem, Transmission } from '../../agent/callhome/index.js';
import { AdminClient } from '../admin-client.js';
import { ago, printExactBytes, printJson, printLine, printTable, tty } from '../io.js';
import type { ProblemAccepted } from '../../agent/callhome/index.js';
import { printProblemOpened } from './problems.js';
import { collectFiles, followUploads, registerAgentAttachmentsCommand, stageFiles } from './attach.js';

const dataOption = ['--data <dir>', 'agent data directory'] as const;

export function registerAgentCallHomeCommands(agent: Command): void {
  const problem = agent.command('problem').description('problem reports to the vendor');
  problem
    .command('open')
    .requiredOption(...dataOption)
    .requiredOption('--summary <text>', 'what is wrong, in one line')
    .requiredOption('--severity <level>', 'critical, major, minor or informational')
    .option('--system <serial>', 'serial number of the managed system with the problem')
    .option('--code <ref>', 'reference code')
    .option('--description <text>', 'more detail')
    .option('--attach <file>', 'a file of error data to upload with the problem (repeatable)', collectFiles)
    .option('--no-follow', 'do not wait for attachments to reach the hub')
    .action(
      async (opts: {
        data: string;
        summary: string;
        severity: string;
        system?: string;
        code?: string;
        description?: string;
        attach?: string[];
        follow: boolean;
      }) => {
        const body = {
          summary: opts.summary,
          severity: opts.severity,
          ...(opts.code ? { referenceCode: opts.code } : {}),
          ...(opts.description ? { description: opts.description } : {}),
          ...(opts.system ? { system: { serial: opts.system } } : {}),
        };
        const client = new AdminClient(opts.data);
        const result = await client.request<ProblemAccepted>('POST', '/v1/problems', body);
        const staged = await stageFiles(client, result.localId, opts.attach ?? []);
        await printProblemOpened(client, result);
        if (opts.follow) await followUploads(client, staged);
      },
    );
  for (const action of ['update', 'close'] as const) {
    problem
      .command(`${action} <id>`)
      .requiredOption(...dataOption)
      .option('--note <text>', action === 'update' ? 'what changed (required)' : 'why it is closed')
      .option('--attach <file>', 'a file of error data to upload with the update (repeatable)', collectFiles)
      .option('--no-follow', 'do not wait for attachments to reach the hub')
      .action(
        async (id: string, opts: { data: string; note?: string; attach?: string[]; follow: boolean }) => {
          if (action === 'update' && !opts.note)
            throw new LifelineError('API_BAD_REQUEST', '--note: required for an update');
          if (action === 'close' && opts.attach)
            throw new LifelineError(
              'API_BAD_REQUEST',
              '--attach: attach files with problem update, not close',
            );
          const client = new AdminClient(opts.data);
          await client.request(
            'POST',
            `/v1/problems/${encodeURIComponent(id)}/${action}`,
            opts.note ? { note: opts.note } : {},
          );
          printLine(tty`Problem ${id}: ${action} accepted`);
          const staged = await stageFiles(client, id, opts.attach ?? []);
          if (opts.follow) await followUploads(client, staged);
        },
      );
  }

  registerAgentAttachmentsCommand(agent);

  const callhome = agent.command('callhome').description('call-home maintenance mode');
  callhome
    .command('pause')
    .description('hold every report (nothing is lost) for a while, e.g. during maintenance')
    .requiredOption(...dataOption)
    .requiredOption('--for <duration>', 'how long, e.g. 2h')
    .action(async (opts: { data: string; for: string }) => {
      const status = await new AdminClient(opts.data).request<{ pausedUntilMs: number | null }>(
        'PUT',
        '/v1/callhome/pause',
        {
          forMs: parseDurationMs(opts.for, '--for'),
        },
      );
      printLine(
        tty`Call home paused until ${new Date(status.pausedUntilMs ?? Date.now()).toISOString()}; reports are kept`,
      );
    });
  callhome
    .command('resume')
    .requiredOption(...dataOption)
    .action(async (opts: { data: string }) => {
      await new AdminClient(opts.data).request('DELETE', '/v1/callhome/pause');
      printLine(tty`Call home resumed`);
    });

  agent
    .command('outbox')
    .description('reports waiting to be sent (and those the hub refused)')
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const result = await new AdminClient(opts.data).request<{
        status: Record<string, unknown>;
        waiting: Omit<OutboxItem, 'body'>[];
      }>('GET', '/v1/outbox');
      if (opts.json) {
        printJson(result);
        return;
      }
      printLine(
        tty`pending ${String(result.status.pending)}, held ${String(result.status.held)}, sent ${String(result.status.sent)}, rejected ${String(result.status.rejected)}`,
      );
      if (Number(result.status.held) > 0)
        printLine(
          tty`Held reports wait for review: release them with lifeline agent release REPORT (or --all)`,
        );
      printTable(
        result.waiting.map((item) => ({
          report: item.id,
          kind: item.kind,
          state: item.state,
          bytes: String(item.bytes),
          attempts: String(item.attempts),
          'last error': item.lastError ?? '',
        })),
        ['report', 'kind', 'state', 'bytes', 'attempts', 'last error'],
      );
    });

  agent
    .command('sent')
    .description('every transmission to the hub; --show prints the exact payload of a report')
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .option(
      '--show <report>',
      'print the exact bytes of this report as they left (unfiltered: on a terminal, pipe it through jq .)',
    )
    .action(async (opts: { data: string; json?: boolean; show?: string }) => {
      const client = new AdminClient(opts.data);
      if (opts.show) {
        printExactBytes(await client.requestText('GET', `/v1/sent/${encodeURIComponent(opts.show)}`));
        return;
      }
      const { transmissions } = await client.request<{ transmissions: Transmission[] }>('GET', '/v1/sent');
      if (opts.json) {
        printJson(transmissions);
        return;
      }
      printTable(
        transmissions.map((t) => ({
          time: ago(new Date(t.atMs).toISOString()),
          report: t.reportId,
          kind: t.kind,
          contains: t.manifest?.contains ?? '',
          bytes: String(t.bytes),
          sha256: t.sha256,
          status: String(t.status),
        })),
        ['time', 'report', 'kind', 'contains', 'bytes', 'sha256', 'status'],
      );
    });

  agent
    .command('release [report]')
    .description('release held reports to be sent: one, or --all')
    .requiredOption(...dataOption)
    .option('--all', 'every held report')
    .action(async (report: string | undefined, opts: { data: string; all?: boolean }) => {
      const id = opts.all ? 'all' : report;
      if (!id) throw new LifelineError('API_BAD_REQUEST', 'expected: lifeline agent release REPORT or --all');
      const result = await new AdminClient(opts.data).request<{ released: number }>(
        'POST',
        '/v1/outbox/release',
        { id },
      );
      printLine(tty`Released ${result.released} report(s)`);
    });
}
