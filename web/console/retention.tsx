// Retention: the rules in force (hub.yaml retention:) and what the last purge removed.

import { DataTable, Section, formatBytes, formatTime } from '../shared/ui.js';

/** What a purge removed, per rule (the hub's RetentionRunSummary; older hubs may lack parts). */
interface LastRun {
  ranAtMs?: number;
  nowMs?: number;
  actor?: string;
  removed?: {
    problemData?: { files?: number; bytes?: number; unfinished?: { uploads?: number; bytes?: number } };
    closedProblems?: { problems?: number; reports?: number };
    inventory?: { reports?: number };
    performance?: { reports?: number };
    heartbeats?: { reports?: number };
  };
}

export interface RetentionView {
  rules: Record<string, string>;
  interval: string;
  lastRun: LastRun | null;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** One line per rule: what the run removed under it. */
function removedRows(run: LastRun): { rule: string; removed: string }[] {
  const removed = run.removed ?? {};
  const files = removed.problemData?.files ?? 0;
  const unfinished = removed.problemData?.unfinished?.uploads ?? 0;
  const problems = removed.closedProblems?.problems ?? 0;
  const reports = (n: number | undefined) => plural(n ?? 0, 'report', 'reports');
  return [
    {
      rule: 'problemData',
      removed:
        `${plural(files, 'file', 'files')}${files > 0 ? `, ${formatBytes(removed.problemData?.bytes ?? 0)}` : ''}` +
        (unfinished > 0
          ? `; ${plural(unfinished, 'unfinished upload', 'unfinished uploads')}, ${formatBytes(removed.problemData?.unfinished?.bytes ?? 0)} (they start over)`
          : ''),
    },
    {
      rule: 'closedProblems',
      removed: `${plural(problems, 'problem', 'problems')}, ${reports(removed.closedProblems?.reports)}`,
    },
    { rule: 'inventory', removed: reports(removed.inventory?.reports) },
    { rule: 'performance', removed: reports(removed.performance?.reports) },
    { rule: 'heartbeats', removed: reports(removed.heartbeats?.reports) },
  ];
}

const ruleLabels: Record<string, string> = {
  problemData: 'Problem data files',
  closedProblems: 'Closed problem reports',
  inventory: 'Inventory',
  performance: 'Performance data',
  heartbeats: 'Heartbeats',
};

export function RetentionSection(props: { retention: RetentionView | null }) {
  const r = props.retention;
  return (
    <Section id="retention" title="Retention">
      {!r ? (
        <p class="empty">Loading…</p>
      ) : (
        <>
          <dl class="facts" data-testid="retention-rules">
            {Object.entries(r.rules).map(([rule, period]) => (
              <>
                <dt key={`${rule}-t`}>{ruleLabels[rule] ?? rule}</dt>
                <dd key={`${rule}-d`}>kept {period}</dd>
              </>
            ))}
            <dt>Applied</dt>
            <dd>every {r.interval}</dd>
            <dt>Last purge</dt>
            <dd data-testid="retention-last-run">
              {r.lastRun
                ? `${formatTime(r.lastRun.ranAtMs)}${r.lastRun.actor ? ` by ${r.lastRun.actor}` : ''}${
                    r.lastRun.nowMs !== undefined &&
                    Math.abs(r.lastRun.nowMs - (r.lastRun.ranAtMs ?? 0)) > 60_000
                      ? ` (rules applied as of ${formatTime(r.lastRun.nowMs)})`
                      : ''
                  }`
                : 'none yet'}
            </dd>
          </dl>
          {r.lastRun && (
            <DataTable
              label="Removed by the last purge"
              testId="retention-removed"
              rows={removedRows(r.lastRun)}
              rowKey={(row) => row.rule}
              empty="Nothing removed."
              columns={[
                { label: 'Rule', cell: (row) => ruleLabels[row.rule] ?? row.rule },
                { label: 'Removed', cell: (row) => row.removed },
              ]}
            />
          )}
        </>
      )}
    </Section>
  );
}
