// Problem tickets: the list, one ticket's reports, error data (download, delete) and requests for
// more data, and closing it. Every action is written to the hub's audit log by the API.

import { useState } from 'preact/hooks';
import type { ApiClient } from '../shared/api.js';
import { ActionButton, Badge, DataTable, Section, When, formatBytes } from '../shared/ui.js';

export interface ProblemRow {
  number: string;
  stationId: string;
  summary: string;
  severity: string;
  referenceCode: string | null;
  state: 'open' | 'closed';
  openedAtMs: number;
  updatedAtMs: number;
  closedAtMs: number | null;
}

interface ProblemDetail extends ProblemRow {
  reports: { id: string; kind: string; receivedAtMs: number; body?: string }[];
  attachments: {
    id: string;
    name: string;
    bytes: number;
    receivedBytes?: number;
    sha256: string;
    state: string;
  }[];
  dataRequests: {
    id: string;
    note: string;
    state: string;
    createdAtMs: number;
    answerNote?: string | null;
  }[];
}

const severityTone = { critical: 'bad', major: 'bad', minor: 'warn', informational: 'neutral' } as const;

export function ProblemsSection(props: {
  api: ApiClient;
  problems: ProblemRow[];
  reload: () => Promise<void>;
}) {
  const [openOnly, setOpenOnly] = useState(true);
  const [detail, setDetail] = useState<ProblemDetail | null>(null);
  const shown = props.problems.filter((p) => !openOnly || p.state === 'open');
  const show = async (number: string) =>
    setDetail(await props.api.get<ProblemDetail>(`/v1/problems/${number}`));
  return (
    <Section
      id="problems"
      title="Problems"
      count={props.problems.filter((p) => p.state === 'open').length}
      actions={
        <label>
          <input
            type="checkbox"
            checked={openOnly}
            onChange={(e) => setOpenOnly((e.target as HTMLInputElement).checked)}
          />{' '}
          Open only
        </label>
      }
    >
      <DataTable
        label="Problem tickets"
        testId="problems-table"
        rows={shown}
        rowKey={(p) => p.number}
        empty={openOnly ? 'No open problem.' : 'No problem yet.'}
        columns={[
          {
            label: 'Problem',
            cell: (p) => (
              <button
                type="button"
                class="plain small"
                data-testid={`problem-${p.number}`}
                onClick={() => void show(p.number)}
              >
                {p.number}
              </button>
            ),
          },
          { label: 'Station', cell: (p) => p.stationId, optional: true },
          {
            label: 'Severity',
            cell: (p) => (
              <Badge tone={severityTone[p.severity as keyof typeof severityTone] ?? 'neutral'}>
                {p.severity}
              </Badge>
            ),
          },
          { label: 'Summary', cell: (p) => p.summary },
          { label: 'State', cell: (p) => p.state },
          { label: 'Opened', cell: (p) => <When ms={p.openedAtMs} />, optional: true },
        ]}
      />
      {detail ? (
        <Detail
          api={props.api}
          detail={detail}
          close={() => setDetail(null)}
          refresh={async () => {
            await props.reload();
            await show(detail.number);
          }}
        />
      ) : null}
    </Section>
  );
}

function Detail(props: {
  api: ApiClient;
  detail: ProblemDetail;
  close: () => void;
  refresh: () => Promise<void>;
}) {
  const d = props.detail;
  return (
    <article
      aria-labelledby="problem-detail-title"
      data-testid="problem-detail"
      style={{ marginTop: '1rem' }}
    >
      <h3 id="problem-detail-title">
        {d.number} · {d.summary}{' '}
        <button type="button" class="plain small" onClick={props.close}>
          Close details
        </button>
      </h3>
      <p>
        Station {d.stationId} · {d.severity}
        {d.referenceCode ? ` · reference ${d.referenceCode}` : ''} · {d.state} · opened{' '}
        <When ms={d.openedAtMs} />{' '}
        {d.state === 'open' ? (
          <ActionButton
            label="Close the problem"
            testId="problem-close"
            confirm={`Close ${d.number}?`}
            action={async () => {
              await props.api.post(`/v1/problems/${d.number}/close`);
              await props.refresh();
            }}
          />
        ) : null}
      </p>
      <h4>Reports</h4>
      <DataTable
        label="Reports of the problem"
        rows={d.reports}
        rowKey={(r) => r.id}
        empty="No report."
        columns={[
          { label: 'Kind', cell: (r) => r.kind },
          { label: 'Received', cell: (r) => <When ms={r.receivedAtMs} /> },
          { label: 'Report id', cell: (r) => <code>{r.id}</code>, optional: true },
        ]}
      />
      <h4>Error data</h4>
      <DataTable
        label="Error data files"
        testId="attachments-table"
        rows={d.attachments}
        rowKey={(a) => a.id}
        empty="No error data."
        columns={[
          { label: 'File', cell: (a) => a.name },
          { label: 'Size', cell: (a) => formatBytes(a.bytes) },
          { label: 'State', cell: (a) => a.state },
          {
            label: 'SHA-256',
            cell: (a) => <code title={a.sha256}>{a.sha256.slice(0, 12)}…</code>,
            optional: true,
          },
          {
            label: 'Actions',
            cell: (a) => (
              <span class="action">
                <ActionButton
                  label="Download"
                  disabled={a.state !== 'complete'}
                  action={async () => {
                    // A short-lived, single-use link: the browser downloads it itself, however large.
                    const link = await props.api.post<{ url: string }>(
                      `/v1/attachments/${a.id}/download-link`,
                    );
                    window.location.assign(link.url);
                  }}
                />
                <ActionButton
                  label="Delete"
                  kind="danger"
                  confirm={`Delete ${a.name} from the hub? This cannot be undone.`}
                  action={async () => {
                    await props.api.delete(`/v1/attachments/${a.id}`);
                    await props.refresh();
                  }}
                />
              </span>
            ),
          },
        ]}
      />
      <h4>Requests for more data</h4>
      <DataTable
        label="Requests for more data"
        rows={d.dataRequests}
        rowKey={(r) => r.id}
        empty="None."
        columns={[
          { label: 'Asked', cell: (r) => <When ms={r.createdAtMs} /> },
          { label: 'Note', cell: (r) => r.note },
          { label: 'State', cell: (r) => r.state },
          { label: 'Answer', cell: (r) => r.answerNote ?? '—', optional: true },
        ]}
      />
    </article>
  );
}
