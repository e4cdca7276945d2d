// The audit log, filterable, with the result of verifying its hash chain (and the hub's checkpoint).

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ApiClient } from '../shared/api.js';
import { ActionButton, Badge, DataTable, Section, formatTime } from '../shared/ui.js';
import type { AuditEntry, AuditReport } from './types.js';

export function AuditSection(props: { api: ApiClient; entries: AuditEntry[] }) {
  const [filter, setFilter] = useState('');
  const [report, setReport] = useState<AuditReport | null>(null);
  // The result is shown from the start; the button checks again.
  useEffect(() => {
    void props.api
      .get<AuditReport>('/v1/audit/verify')
      .then(setReport)
      .catch(() => undefined);
  }, [props.api]);
  const shown = useMemo(() => {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    const newestFirst = [...props.entries].sort((a, b) => b.seq - a.seq);
    if (words.length === 0) return newestFirst.slice(0, 200);
    return newestFirst
      .filter((e) => {
        const text = `${e.action} ${e.actor} ${JSON.stringify(e.detail)}`.toLowerCase();
        return words.every((w) => text.includes(w));
      })
      .slice(0, 200);
  }, [props.entries, filter]);
  return (
    <Section
      id="audit"
      title="Audit log"
      actions={
        <ActionButton
          label="Verify the log"
          testId="audit-verify"
          action={async () => setReport(await props.api.get<AuditReport>('/v1/audit/verify'))}
        />
      }
    >
      {report ? <VerifyResult report={report} /> : null}
      <label class="muted" style={{ display: 'block', margin: '0.25rem 0 0.5rem' }}>
        Filter (action, actor or detail){' '}
        <input
          type="search"
          value={filter}
          data-testid="audit-filter"
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
        />
      </label>
      <DataTable
        label="Audit log entries"
        testId="audit-table"
        rows={shown}
        rowKey={(e) => String(e.seq)}
        empty={filter ? 'No entry matches.' : 'The log is empty.'}
        columns={[
          { label: '#', cell: (e) => e.seq },
          { label: 'Time', cell: (e) => formatTime(e.atMs) },
          { label: 'Action', cell: (e) => <code>{e.action}</code> },
          { label: 'Actor', cell: (e) => e.actor, optional: true },
          {
            label: 'Detail',
            cell: (e) => <span class="muted">{JSON.stringify(e.detail)}</span>,
            optional: true,
          },
        ]}
      />
    </Section>
  );
}

function VerifyResult(props: { report: AuditReport }) {
  const r = props.report;
  return (
    <p data-testid="audit-verify-result" role="status">
      {r.ok ? <Badge tone="good">intact</Badge> : <Badge tone="bad">altered</Badge>} {r.count} entries
      {r.firstBad ? ` · first bad entry #${r.firstBad.seq}` : ''}
      {' · hub checkpoint: '}
      {r.hub.compared
        ? r.hub.ok
          ? `agrees (${r.hub.checkpointCount} entries)`
          : (r.hub.message ?? 'disagrees')
        : `not compared (${r.hub.reason})`}
    </p>
  );
}
