// Retention: the rules in force (hub.yaml retention:) and what the last purge removed.

import { Section, formatTime } from '../shared/ui.js';

export interface RetentionView {
  rules: Record<string, string>;
  interval: string;
  lastRun: { atMs?: number; ranAtMs?: number; [key: string]: unknown } | null;
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
              {r.lastRun ? (
                <>
                  {formatTime(r.lastRun.ranAtMs ?? r.lastRun.atMs)}
                  <pre class="payload">{JSON.stringify(r.lastRun, null, 2)}</pre>
                </>
              ) : (
                'none yet'
              )}
            </dd>
          </dl>
        </>
      )}
    </Section>
  );
}
