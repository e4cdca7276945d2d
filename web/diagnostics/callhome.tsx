// Call home: problems with the vendor's numbers, uploads in progress, what waits in the outbox, the
// log of every transmission with the exact payload that left, and "test call home".

import { useState } from 'preact/hooks';
import type { ApiClient } from '../shared/api.js';
import { ActionButton, Badge, DataTable, Section, When, formatBytes, formatTime } from '../shared/ui.js';
import type { AgentData } from './main.js';
import type { CallHomeTestReport } from './types.js';

export function CallHomeSection(props: { api: ApiClient; data: AgentData; reload: () => Promise<void> }) {
  const { problems, attachments, outbox, sent } = props.data;
  const [payload, setPayload] = useState<{ id: string; text: string } | null>(null);
  const [test, setTest] = useState<CallHomeTestReport | null>(null);
  const uploading = attachments.filter((a) => a.state !== 'uploaded');
  return (
    <Section
      id="callhome"
      title="Call home"
      actions={
        <ActionButton
          label="Test call home"
          testId="callhome-test"
          action={async () => setTest(await props.api.post<CallHomeTestReport>('/v1/callhome/test'))}
        />
      }
    >
      {test ? (
        <div data-testid="callhome-test-result" role="status">
          <p>
            {test.ok ? <Badge tone="good">every step passed</Badge> : <Badge tone="bad">failed</Badge>} at{' '}
            {formatTime(test.atMs)}
          </p>
          <ol>
            {test.steps.map((s, index) => (
              <li key={index}>
                <strong>{s.step}</strong>
                {s.endpoint ? ` (${s.endpoint})` : ''}:{' '}
                <Badge tone={s.status === 'ok' ? 'good' : s.status === 'failed' ? 'bad' : 'neutral'}>
                  {s.status}
                </Badge>{' '}
                <span class="muted">
                  {s.durationMs} ms{s.detail ? ` · ${s.detail}` : ''}
                </span>
                {s.reason ? <div class="error">{s.reason}</div> : null}
              </li>
            ))}
          </ol>
        </div>
      ) : null}

      <h3>Problems</h3>
      <DataTable
        label="Problems"
        testId="problems-table"
        rows={problems}
        rowKey={(p) => p.localId}
        empty="No problem reported."
        columns={[
          { label: 'Local id', cell: (p) => p.localId },
          { label: 'Vendor number', cell: (p) => p.vendorNumber ?? <span class="muted">waiting</span> },
          { label: 'Summary', cell: (p) => p.summary },
          { label: 'Severity', cell: (p) => p.severity, optional: true },
          { label: 'State', cell: (p) => p.state },
          { label: 'Updated', cell: (p) => <When ms={p.updatedAtMs} />, optional: true },
        ]}
      />

      <h3>Uploads</h3>
      <DataTable
        label="Uploads"
        testId="uploads-table"
        rows={uploading}
        rowKey={(a) => a.id}
        empty="No upload in progress."
        columns={[
          { label: 'File', cell: (a) => a.name },
          { label: 'Problem', cell: (a) => a.problemLocalId, optional: true },
          {
            label: 'Progress',
            cell: (a) => (
              <>
                <progress max={a.bytes || 1} value={a.ackedBytes} aria-label={`Upload of ${a.name}`} />{' '}
                {formatBytes(a.ackedBytes)} of {formatBytes(a.bytes)}
              </>
            ),
          },
          { label: 'State', cell: (a) => a.lastError ?? a.state },
        ]}
      />

      <h3>Outbox</h3>
      <DataTable
        label="Reports waiting to be sent"
        testId="outbox-table"
        rows={outbox.waiting}
        rowKey={(o) => o.id}
        empty="Nothing waits to be sent."
        columns={[
          { label: 'Kind', cell: (o) => o.kind },
          { label: 'State', cell: (o) => o.state },
          { label: 'Size', cell: (o) => formatBytes(o.bytes), optional: true },
          { label: 'Attempts', cell: (o) => o.attempts, optional: true },
          { label: 'Last error', cell: (o) => o.lastError ?? '—', optional: true },
          {
            label: 'Actions',
            cell: (o) =>
              o.state === 'held' ? (
                <ActionButton
                  label="Release"
                  action={async () => {
                    await props.api.post('/v1/outbox/release', { id: o.id });
                    await props.reload();
                  }}
                />
              ) : (
                <ViewPayload api={props.api} id={o.id} onShow={setPayload} />
              ),
          },
        ]}
      />

      <h3>Transmissions</h3>
      <DataTable
        label="Transmission log"
        testId="sent-table"
        rows={sent}
        rowKey={(t) => String(t.seq)}
        empty="Nothing has been sent yet."
        columns={[
          { label: 'Time', cell: (t) => formatTime(t.atMs) },
          { label: 'Kind', cell: (t) => t.kind },
          { label: 'Size', cell: (t) => formatBytes(t.bytes), optional: true },
          {
            label: 'SHA-256',
            cell: (t) => <code title={t.sha256}>{t.sha256.slice(0, 12)}…</code>,
            optional: true,
          },
          { label: 'Answer', cell: (t) => t.status },
          {
            label: 'Payload',
            cell: (t) => <ViewPayload api={props.api} id={t.reportId} onShow={setPayload} />,
          },
        ]}
      />
      {payload ? (
        <div>
          <h3>
            Payload of {payload.id}{' '}
            <button type="button" class="plain small" onClick={() => setPayload(null)}>
              Close
            </button>
          </h3>
          <pre class="payload" data-testid="payload" tabIndex={0}>
            {payload.text}
          </pre>
        </div>
      ) : null}
    </Section>
  );
}

function ViewPayload(props: {
  api: ApiClient;
  id: string;
  onShow: (payload: { id: string; text: string }) => void;
}) {
  if (!/^[0-9a-f]{32}$/.test(props.id)) return <span class="muted">—</span>;
  return (
    <ActionButton
      label="View"
      action={async () => {
        // The exact bytes, shown as they left: not re-serialised.
        const response = await fetch(`/v1/sent/${props.id}`, {
          headers: { authorization: `Bearer ${sessionStorage.getItem('lifeline.admin') ?? ''}` },
        });
        if (!response.ok) throw new Error(`the agent answered ${response.status}`);
        props.onShow({ id: props.id, text: await response.text() });
      }}
    />
  );
}
