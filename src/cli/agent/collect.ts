// `lifeline agent inventory|systems|callhome test`: the collected reports from the appliance
// administrator's side. `callhome test` runs in this process from the data directory, so it
// works while the agent is down; the others talk to the running agent.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import {
  testCallHomeFromDataDir,
  type CallHomeTestReport,
  type StepResult,
} from '../../agent/callhome/index.js';
import { submittedSystemsSchema } from '../../agent/collectors/index.js';
import type { SystemView } from '../../agent/collectors/index.js';
import { formatZodIssues } from '../../common/config/index.js';
import { LifelineError } from '../../common/errors.js';
import { systemStatuses, type InventoryPayload, type ManagedSystemInventory } from '../../protocol/index.js';
import { AdminClient } from '../admin-client.js';
import { printJson, printLine, printTable, tty } from '../io.js';

const dataOption = ['--data <dir>', 'agent data directory'] as const;

interface InventoryAnswer {
  queued: boolean;
  report?: { id: string; bytes: number; sha256: string };
  digest: string;
  systems: string[];
}

export function registerAgentCollectCommands(agent: Command): void {
  const inventory = agent
    .command('inventory')
    .description('the inventory of this appliance and its managed systems');
  inventory
    .command('send')
    .description("queue the inventory now; --file adds managed systems (JSON or YAML) to the host's")
    .requiredOption(...dataOption)
    .option(
      '--file <file>',
      'managed systems: a list, or {systems: [...]}, each {serial, type, model, firmware, parts}',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; file?: string; json?: boolean }) => {
      const client = new AdminClient(opts.data);
      const answer = opts.file
        ? await client.request<InventoryAnswer>('POST', '/v1/inventory', {
            systems: readSystemsFile(opts.file),
            send: true,
          })
        : await client.request<InventoryAnswer>('POST', '/v1/inventory/send');
      if (opts.json) {
        printJson(answer);
        return;
      }
      const systems =
        answer.systems.length === 0 ? 'no managed system' : `systems ${answer.systems.join(', ')}`;
      printLine(
        answer.report
          ? tty`Inventory queued as report ${answer.report.id} (${answer.report.bytes} bytes, SHA-256 ${answer.report.sha256}): this appliance and ${systems}`
          : tty`Inventory unchanged (digest ${answer.digest}); nothing queued`,
      );
    });
  inventory
    .command('show')
    .description('the inventory as it would be sent now')
    .requiredOption(...dataOption)
    .action(async (opts: { data: string }) => {
      const answer = await new AdminClient(opts.data).request<{ inventory: InventoryPayload }>(
        'GET',
        '/v1/inventory',
      );
      printJson(answer.inventory);
    });

  agent
    .command('systems')
    .description('managed systems and the status the heartbeat reports for each')
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const { systems } = await new AdminClient(opts.data).request<{ systems: SystemView[] }>(
        'GET',
        '/v1/systems',
      );
      if (opts.json) {
        printJson(systems);
        return;
      }
      printTable(
        systems.map((s) => ({
          serial: s.serial,
          type: s.type ?? '',
          model: s.model ?? '',
          status: s.status,
          since: s.sinceMs === undefined ? '' : new Date(s.sinceMs).toISOString(),
          detail: s.detail ?? '',
        })),
        ['serial', 'type', 'model', 'status', 'since', 'detail'],
      );
    });

  agent
    .command('system-status <serial> <status>')
    .description(`set a managed system's status: ${systemStatuses.join(', ')}`)
    .requiredOption(...dataOption)
    .option('--detail <text>', 'why')
    .action(async (serial: string, status: string, opts: { data: string; detail?: string }) => {
      if (!(systemStatuses as readonly string[]).includes(status))
        throw new LifelineError('API_BAD_REQUEST', `status: expected one of ${systemStatuses.join(', ')}`);
      const { system } = await new AdminClient(opts.data).request<{ system: SystemView }>(
        'PUT',
        `/v1/systems/${encodeURIComponent(serial)}/status`,
        { status, ...(opts.detail ? { detail: opts.detail } : {}) },
      );
      printLine(tty`System ${system.serial} is ${system.status}; the next heartbeat reports it`);
    });

  // `callhome` is made by agent-callhome.ts; `test` joins it.
  const callhome =
    agent.commands.find((c) => c.name() === 'callhome') ?? agent.command('callhome').description('call home');
  callhome
    .command('test')
    .description(
      'check each step to the hub: name, TCP, proxy, TLS and hub identity, certificate, round trip',
    )
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const report = await testCallHomeFromDataDir(opts.data);
      if (opts.json) printJson(report);
      else printReport(report);
      if (!report.ok) process.exitCode = 1;
    });
}

function readSystemsFile(path: string): ManagedSystemInventory[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LifelineError(
      'API_BAD_REQUEST',
      `--file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  let value: unknown;
  try {
    // YAML is a superset of JSON: one parser reads both.
    value = parseYaml(text);
  } catch (err) {
    throw new LifelineError(
      'API_BAD_REQUEST',
      `--file: ${path} is neither JSON nor YAML: ${(err as Error).message}`,
    );
  }
  const parsed = submittedSystemsSchema.safeParse(value);
  if (!parsed.success)
    throw new LifelineError('API_BAD_REQUEST', `--file ${path}: ${formatZodIssues(parsed.error)}`);
  return Array.isArray(parsed.data) ? parsed.data : parsed.data.systems;
}

const stepLabels: Record<StepResult['step'], string> = {
  'station-certificate': 'station certificate',
  'name-resolution': 'name resolution',
  'tcp-connect': 'TCP connect',
  proxy: 'proxy',
  'tls-handshake': 'TLS and hub identity',
  'round-trip': 'round trip',
};

function printReport(report: CallHomeTestReport): void {
  let endpoint: string | undefined;
  for (const step of report.steps) {
    if (step.endpoint !== undefined && step.endpoint !== endpoint) {
      endpoint = step.endpoint;
      printLine(tty`hub ${endpoint}`);
    }
    const status = step.status === 'ok' ? 'ok' : step.status === 'failed' ? 'FAILED' : '-';
    const time = step.status === 'skipped' ? '' : `${step.durationMs} ms`;
    const text = step.status === 'failed' ? step.reason : (step.detail ?? step.reason ?? '');
    printLine(
      tty`  ${status.padEnd(6)} ${`${stepLabels[step.step]}:`.padEnd(22)} ${time.padStart(7)}  ${text ?? ''}`,
    );
  }
  printLine(report.ok ? tty`Call home works.` : tty`Call home FAILED: see the step marked FAILED.`);
}
