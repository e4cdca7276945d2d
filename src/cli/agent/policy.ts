// `lifeline agent acl|requests|accept|reject|grant-once|mfa`: the appliance administrator's access
// policy commands. They talk to the running agent's admin API.

import type { Command } from 'commander';
import { parseDurationMs } from '../../common/config/index.js';
import { LifelineError } from '../../common/errors.js';
import type { AccessRequest, StoredGrant, StoredRule } from '../../agent/sessions/index.js';
import { AdminClient } from '../admin-client.js';
import { ago, printJson, printLine, printTable, tty } from '../io.js';

const dataOption = ['--data <dir>', 'agent data directory'] as const;

function servicesOption(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const services = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (services.length === 0) throw new LifelineError('API_BAD_REQUEST', '--services: expected a,b');
  return services;
}

function parseTime(text: string, flag: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw new LifelineError(
      'API_BAD_REQUEST',
      `${flag}: expected a time such as 2026-12-01T18:00:00Z, got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

const when = (ms: number | null): string =>
  ms === null ? '-' : new Date(ms).toISOString().replace('.000', '');

export function describeRule(rule: StoredRule & { active?: boolean }): Record<string, string> {
  return {
    rule: rule.id,
    effect: rule.effect,
    who: rule.technician ?? `group:${rule.group ?? ''}`,
    services: rule.services?.join(',') ?? 'all',
    until: when(rule.notAfterMs),
    state: rule.active === false ? 'inactive' : 'active',
    note: rule.note ?? '',
  };
}

export function registerAgentPolicyCommands(agent: Command): void {
  const acl = agent
    .command('acl')
    .description('ACL rules: which technicians may open sessions under restricted access');
  acl
    .command('list')
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const { rules } = await new AdminClient(opts.data).request<{
        rules: (StoredRule & { active: boolean })[];
      }>('GET', '/v1/acl');
      if (opts.json) printJson(rules);
      else
        printTable(rules.map(describeRule), ['rule', 'effect', 'who', 'services', 'until', 'state', 'note']);
    });
  acl
    .command('add')
    .description('allow (or with --deny, refuse) a technician or a group')
    .requiredOption(...dataOption)
    .option('--technician <id>', 'hub identity of the technician (exact)')
    .option('--group <group>', 'hub group of technicians')
    .option('--services <a,b>', 'only these services (default: all)')
    .option('--until <time>', 'valid until this time (ISO 8601)')
    .option('--for <duration>', 'valid for this long, e.g. 8h')
    .option('--deny', 'a deny rule: refuses even under full access')
    .option('--note <text>', 'why the rule exists')
    .action(
      async (opts: {
        data: string;
        technician?: string;
        group?: string;
        services?: string;
        until?: string;
        for?: string;
        deny?: boolean;
        note?: string;
      }) => {
        if (opts.until && opts.for)
          throw new LifelineError('API_BAD_REQUEST', 'give --until or --for, not both');
        const body = {
          ...(opts.technician ? { technician: opts.technician } : {}),
          ...(opts.group ? { group: opts.group } : {}),
          ...(opts.services ? { services: servicesOption(opts.services) } : {}),
          ...(opts.until ? { notAfterMs: parseTime(opts.until, '--until') } : {}),
          ...(opts.for ? { forMs: parseDurationMs(opts.for, '--for') } : {}),
          ...(opts.deny ? { effect: 'deny' } : {}),
          ...(opts.note ? { note: opts.note } : {}),
        };
        const { rule } = await new AdminClient(opts.data).request<{ rule: StoredRule }>(
          'POST',
          '/v1/acl',
          body,
        );
        const described = describeRule(rule);
        printLine(
          tty`Rule ${rule.id} added: ${rule.effect} ${described.who ?? ''}, services ${described.services ?? ''}, until ${when(rule.notAfterMs)}`,
        );
      },
    );
  acl
    .command('remove <rule>')
    .description('remove a rule; the sessions it allowed end')
    .requiredOption(...dataOption)
    .action(async (rule: string, opts: { data: string }) => {
      await new AdminClient(opts.data).request('DELETE', `/v1/acl/${encodeURIComponent(rule)}`);
      printLine(tty`Rule ${rule} removed`);
    });

  agent
    .command('requests')
    .description('access requests from technicians no rule allows')
    .requiredOption(...dataOption)
    .option('--status <status>', 'pending, accepted, rejected or expired')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; status?: string; json?: boolean }) => {
      const query = opts.status ? `?status=${encodeURIComponent(opts.status)}` : '';
      const { requests } = await new AdminClient(opts.data).request<{ requests: AccessRequest[] }>(
        'GET',
        `/v1/requests${query}`,
      );
      if (opts.json) {
        printJson(requests);
        return;
      }
      printTable(
        requests.map((r) => ({
          request: r.id,
          status: r.status,
          technician:
            r.technician === r.technicianName ? r.technician : `${r.technicianName} (${r.technician})`,
          service: r.service,
          reason: r.reason ?? '',
          asked: ago(new Date(r.firstAtMs).toISOString()),
          attempts: String(r.attempts),
        })),
        ['request', 'status', 'technician', 'service', 'reason', 'asked', 'attempts'],
      );
    });

  agent
    .command('accept <request>')
    .description('accept an access request: creates an ACL rule for that technician')
    .requiredOption(...dataOption)
    .option('--for <duration>', 'the rule expires after this long, e.g. 8h')
    .option('--services <a,b>', 'services the rule covers (default: the service asked for)')
    .action(async (request: string, opts: { data: string; for?: string; services?: string }) => {
      const body = {
        ...(opts.for ? { forMs: parseDurationMs(opts.for, '--for') } : {}),
        ...(opts.services ? { services: servicesOption(opts.services) } : {}),
      };
      const { rule } = await new AdminClient(opts.data).request<{ rule: StoredRule }>(
        'POST',
        `/v1/requests/${encodeURIComponent(request)}/accept`,
        body,
      );
      printLine(
        tty`Accepted ${request}: rule ${rule.id} allows ${rule.technician ?? ''} ${rule.services?.join(',') ?? 'all services'} until ${when(rule.notAfterMs)}`,
      );
    });

  agent
    .command('reject <request>')
    .description('reject an access request')
    .requiredOption(...dataOption)
    .option('--note <text>', 'shown to the technician')
    .action(async (request: string, opts: { data: string; note?: string }) => {
      await new AdminClient(opts.data).request(
        'POST',
        `/v1/requests/${encodeURIComponent(request)}/reject`,
        opts.note ? { note: opts.note } : {},
      );
      printLine(tty`Rejected ${request}`);
    });

  agent
    .command('mfa <setting>')
    .description(
      'require MFA for every session (required: technicians must have logged in with a TOTP code) or not (optional, the default)',
    )
    .requiredOption(...dataOption)
    .action(async (setting: string, opts: { data: string }) => {
      if (setting !== 'required' && setting !== 'optional')
        throw new LifelineError('API_BAD_REQUEST', 'expected: lifeline agent mfa required|optional');
      const { mfa } = await new AdminClient(opts.data).request<{ mfa: string }>('PUT', '/v1/mfa', {
        mfa: setting,
      });
      printLine(
        mfa === 'required'
          ? tty`MFA is required: sessions need a technician login with a TOTP code; password-only sessions ended`
          : tty`MFA is optional: a password login is enough (other policy still applies)`,
      );
    });

  agent
    .command('grant-once')
    .description('allow exactly one session (any level but none) within a window')
    .requiredOption(...dataOption)
    .option('--within <duration>', 'the window', '30m')
    .option('--technician <id>', 'only this technician')
    .option('--services <a,b>', 'only these services')
    .action(async (opts: { data: string; within: string; technician?: string; services?: string }) => {
      const body = {
        withinMs: parseDurationMs(opts.within, '--within'),
        ...(opts.technician ? { technician: opts.technician } : {}),
        ...(opts.services ? { services: servicesOption(opts.services) } : {}),
      };
      const { grant } = await new AdminClient(opts.data).request<{ grant: StoredGrant }>(
        'POST',
        '/v1/grants',
        body,
      );
      printLine(
        tty`One-time access ${grant.id}: one session by ${grant.technician ?? 'any technician'} to ${grant.services?.join(',') ?? 'any service'} until ${when(grant.notAfterMs)}`,
      );
    });
}
