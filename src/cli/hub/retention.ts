// `lifeline hub retention run|show`: apply the retention rules of hub.yaml once (optionally as of
// another time, so the rules can be checked without waiting), and show the rules and the last run.

import type { Command } from 'commander';
import { systemClock } from '../../common/clock.js';
import { parseDurationMs } from '../../common/config/index.js';
import { LifelineError } from '../../common/errors.js';
import { loadHubConfig } from '../../hub/index.js';
import {
  formatPeriod,
  problemDataPurger,
  retentionRules,
  runRetention,
  type RetentionRule,
  type RetentionRunSummary,
  retentionRunSummarySchema,
} from '../../hub/retention/index.js';
import { withBlobStore, withStore } from './hub.js';
import { printJson, printLine, tty } from '../io.js';

const isoDateTime = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** `--now`: an ISO 8601 date or date-time, or +DURATION / -DURATION from the real time. */
export function parseNowOption(text: string, realNowMs: number): number {
  const trimmed = text.trim();
  const sign = trimmed[0];
  if (sign === '+' || sign === '-') {
    const ms = parseDurationMs(trimmed.slice(1), '--now');
    return sign === '+' ? realNowMs + ms : realNowMs - ms;
  }
  const ms = isoDateTime.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new LifelineError(
      'API_BAD_REQUEST',
      `--now: expected an ISO 8601 date or time such as 2026-03-01 or 2026-03-01T12:00:00Z, or a duration from now such as +4d, got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

const ruleNames: Record<RetentionRule, string> = {
  problemData: 'problem data',
  closedProblems: 'closed problems',
  inventory: 'inventory',
  performance: 'performance',
  heartbeats: 'heartbeats',
};

const ruleMeaning: Record<RetentionRule, string> = {
  problemData: 'files attached to problems, after receipt (and unfinished uploads, after their last chunk)',
  closedProblems: 'closed problems and their reports, after closure',
  inventory: "inventory reports, after receipt (each station's latest is kept)",
  performance: 'performance reports, after receipt',
  heartbeats: 'heartbeats, after receipt',
};

/** What a run removed under one rule, as `retention run` and `retention show` print it. */
export function describeRemoved(rule: RetentionRule, summary: RetentionRunSummary): string {
  const removed = summary.removed;
  switch (rule) {
    case 'problemData': {
      if (!summary.problemDataHandled) return 'not handled by this build';
      const { files, bytes, attachmentIds, unfinished } = removed.problemData;
      return (
        `${files} file(s), ${bytes} bytes` +
        (files ? `: ${attachmentIds.join(', ')}` : '') +
        (unfinished.uploads
          ? `; the partial files of ${unfinished.uploads} upload(s) untouched for ${summary.rules.problemData}, ${unfinished.bytes} bytes: ${unfinished.attachmentIds.join(', ')} (each starts over if its station comes back)`
          : '')
      );
    }
    case 'closedProblems':
      return (
        `${removed.closedProblems.problems} problem(s), ${removed.closedProblems.reports} report(s)` +
        (removed.closedProblems.problems ? `: ${removed.closedProblems.problemNumbers.join(', ')}` : '')
      );
    default:
      return `${removed[rule].reports} report(s)`;
  }
}

function printSummary(summary: RetentionRunSummary): void {
  printLine(
    tty`Retention as of ${new Date(summary.nowMs).toISOString()} (run at ${new Date(summary.ranAtMs).toISOString()} by ${summary.actor})`,
  );
  for (const rule of retentionRules) {
    printLine(
      tty`  ${ruleNames[rule].padEnd(16)} keep ${summary.rules[rule].padEnd(4)} removed ${describeRemoved(rule, summary)}`,
    );
  }
}

export function registerHubRetentionCommands(hub: Command): void {
  const retention = hub
    .command('retention')
    .description('how long call-home data is kept: apply the rules now, or show them');

  retention
    .command('run')
    .description("apply hub.yaml's retention rules once; every purge is written to the audit log")
    .requiredOption('--data <dir>', 'hub data directory')
    .option(
      '--now <time>',
      'apply the rules as of this time: ISO 8601 (2026-03-01T12:00:00Z) or +4d from now',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; now?: string; json?: boolean }) => {
      const config = loadHubConfig(opts.data);
      const nowMs = opts.now === undefined ? systemClock.now() : parseNowOption(opts.now, systemClock.now());
      const { interval: _interval, ...rules } = config.retention;
      const summary = await withBlobStore(opts.data, (blobs) =>
        withStore(opts.data, (store) =>
          runRetention({
            store,
            config: rules,
            nowMs,
            clock: systemClock,
            actor: 'operator@cli',
            purgeProblemData: problemDataPurger(store, blobs),
          }),
        ),
      );
      if (opts.json) printJson(summary);
      else printSummary(summary);
    });

  retention
    .command('show')
    .description('the retention rules in force and the last run')
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const config = loadHubConfig(opts.data);
      const recorded = await withStore(opts.data, (store) => store.retention.lastRun());
      const lastRun = recorded === undefined ? undefined : retentionRunSummarySchema.parse(recorded);
      const rules = Object.fromEntries(
        retentionRules.map((rule) => [rule, formatPeriod(config.retention[rule])]),
      ) as Record<RetentionRule, string>;
      if (opts.json) {
        printJson({ rules, interval: formatPeriod(config.retention.interval), lastRun: lastRun ?? null });
        return;
      }
      printLine(tty`Rules (hub.yaml retention:), applied every ${formatPeriod(config.retention.interval)}:`);
      for (const rule of retentionRules) {
        printLine(tty`  ${ruleNames[rule].padEnd(16)} ${rules[rule].padEnd(5)} ${ruleMeaning[rule]}`);
      }
      if (lastRun) {
        printLine(tty`Last run:`);
        printSummary(lastRun);
      } else {
        printLine(tty`Last run: none yet`);
      }
    });
}
