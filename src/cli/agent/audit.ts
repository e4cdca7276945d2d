// `lifeline agent audit`: list, export and verify the appliance's hash-chained audit log. Reads
// the agent's database directly, so it works whether or not the agent runs.

import type { Command } from 'commander';
import { agentPaths, loadAgentConfig } from '../../agent/index.js';
import { formatAuditJsonLines } from '../../agent/audit/index.js';
import { verifyAuditLog } from '../../agent/audit/index.js';
import { CallHomeClient } from '../../agent/link/index.js';
import { hubDialerFromDataDir } from '../../agent/link/index.js';
import { LifelineError } from '../../common/errors.js';
import { AgentStore } from '../../agent/store/index.js';
import { printJson, printJsonText, printLine, tty } from '../io.js';
import type { AuditCheckpoint, AuditEntry } from '../../protocol/index.js';

async function hubCheckpoint(dataDir: string): Promise<AuditCheckpoint | null> {
  const dialer = hubDialerFromDataDir(dataDir);
  const client = new CallHomeClient({ dialer, timeoutMs: 5000 });
  try {
    return (
      await client.request<{ checkpoint: AuditCheckpoint | null }>('GET', '/v1/audit/checkpoints/latest')
    ).checkpoint;
  } finally {
    client.close();
    dialer.close();
  }
}

async function verify(dataDir: string, store: AgentStore): Promise<boolean> {
  const report = await verifyAuditLog(store, () => hubCheckpoint(dataDir));
  if (report.firstBad) {
    printLine(tty`Audit log FAILED verification at entry ${report.firstBad.seq}: ${report.firstBad.message}`);
    return false;
  }
  printLine(
    tty`Audit log chain verified: ${report.count} entries, head ${report.headHash?.slice(0, 16) ?? ''}...`,
  );
  if (!report.hub.compared) printLine(tty`Not compared with the hub's checkpoint: ${report.hub.reason}`);
  else if (!report.hub.ok)
    printLine(tty`Audit log FAILED against the hub's checkpoint: ${report.hub.message ?? ''}`);
  else {
    printLine(
      tty`Matches the hub's checkpoint of ${report.hub.checkpointCount} entries (${new Date(report.hub.checkpointAtMs).toISOString()})`,
    );
  }
  return report.ok;
}

export function registerAgentAuditCommand(agent: Command): void {
  agent
    .command('audit')
    .description('the audit log of this appliance: list, export (--jsonl) or verify (--verify)')
    .requiredOption('--data <dir>', 'agent data directory')
    .option('--json', 'print JSON')
    .option('--jsonl', 'print JSON lines (one entry per line), for export')
    .option('--since <time>', 'only entries from this time on (ISO 8601)')
    .option('--verify', "check the whole hash chain and compare it with the hub's checkpoint")
    .action(
      async (opts: { data: string; json?: boolean; jsonl?: boolean; since?: string; verify?: boolean }) => {
        loadAgentConfig(opts.data);
        const sinceMs = opts.since === undefined ? undefined : Date.parse(opts.since);
        if (sinceMs !== undefined && Number.isNaN(sinceMs)) {
          throw new LifelineError(
            'API_BAD_REQUEST',
            `--since: expected a time such as 2026-12-01T18:00:00Z, got ${JSON.stringify(opts.since)}`,
          );
        }
        const store = await AgentStore.open(agentPaths(opts.data).database);
        try {
          if (opts.verify) {
            if (!(await verify(opts.data, store))) process.exitCode = 1;
            return;
          }
          const entries: AuditEntry[] = await store.listAudit(sinceMs === undefined ? {} : { sinceMs });
          if (opts.json) printJson(entries);
          else if (opts.jsonl) printJsonText(formatAuditJsonLines(entries));
          else
            for (const e of entries) {
              printLine(
                tty`${String(e.seq).padStart(5)}  ${new Date(e.atMs).toISOString()}  ${e.actor}  ${e.action}  ${JSON.stringify(e.detail)}`,
              );
            }
        } finally {
          await store.close();
        }
      },
    );
}
