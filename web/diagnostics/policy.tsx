// Access requests (accept with a duration and services, or reject) and the ACL rules.

import { useState } from 'preact/hooks';
import type { ApiClient } from '../shared/api.js';
import { ActionButton, DataTable, Section, When, formatAgo, formatTime } from '../shared/ui.js';
import { splitList } from './connection.js';
import type { AccessRequest, AclRule } from './types.js';

const durations: readonly [string, number | null][] = [
  ['1 hour', 3_600_000],
  ['4 hours', 4 * 3_600_000],
  ['1 day', 86_400_000],
  ['7 days', 7 * 86_400_000],
  ['no end', null],
];

export function RequestsSection(props: {
  api: ApiClient;
  requests: AccessRequest[];
  reload: () => Promise<void>;
}) {
  return (
    <Section id="requests" title="Pending access requests" count={props.requests.length}>
      {props.requests.length === 0 ? (
        <p class="empty">No technician is waiting.</p>
      ) : (
        <ul class="requests" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
          {props.requests.map((r) => (
            <RequestItem key={r.id} api={props.api} request={r} reload={props.reload} />
          ))}
        </ul>
      )}
    </Section>
  );
}

function RequestItem(props: { api: ApiClient; request: AccessRequest; reload: () => Promise<void> }) {
  const r = props.request;
  const [duration, setDuration] = useState('0');
  const [services, setServices] = useState(r.service);
  const [note, setNote] = useState('');
  const idBase = `req-${r.id}`;
  return (
    <li class="request" data-testid={`request-${r.id}`} style={{ borderTop: '1px solid var(--line)' }}>
      <p>
        <strong>{r.technicianName}</strong> <span class="muted">({r.technician})</span> asks for{' '}
        <strong>{r.service}</strong> · {r.attempts} attempt{r.attempts === 1 ? '' : 's'}, last{' '}
        <When ms={r.lastAtMs} /> · expires {formatAgo(r.expiresAtMs)}
        {r.reason ? (
          <>
            <br />
            Reason: {r.reason}
          </>
        ) : null}
      </p>
      <form class="inline" aria-label={`Decide request ${r.id}`} onSubmit={(e) => e.preventDefault()}>
        <label for={`${idBase}-duration`}>
          Allow for
          <select
            id={`${idBase}-duration`}
            value={duration}
            onChange={(e) => setDuration((e.target as HTMLSelectElement).value)}
          >
            {durations.map(([label], index) => (
              <option key={label} value={String(index)}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label for={`${idBase}-services`}>
          Services
          <input
            id={`${idBase}-services`}
            value={services}
            onInput={(e) => setServices((e.target as HTMLInputElement).value)}
          />
        </label>
        <ActionButton
          label="Accept"
          kind="primary"
          testId={`accept-${r.id}`}
          action={async () => {
            const forMs = durations[Number(duration)]?.[1] ?? null;
            const list = splitList(services);
            await props.api.post(`/v1/requests/${r.id}/accept`, {
              ...(forMs !== null ? { forMs } : {}),
              ...(list.length ? { services: list } : {}),
            });
            await props.reload();
          }}
        />
        <label for={`${idBase}-note`}>
          Note (for a rejection)
          <input
            id={`${idBase}-note`}
            value={note}
            onInput={(e) => setNote((e.target as HTMLInputElement).value)}
          />
        </label>
        <ActionButton
          label="Reject"
          kind="danger"
          testId={`reject-${r.id}`}
          action={async () => {
            await props.api.post(`/v1/requests/${r.id}/reject`, note.trim() ? { note: note.trim() } : {});
            await props.reload();
          }}
        />
      </form>
    </li>
  );
}

export function AclSection(props: { api: ApiClient; rules: AclRule[]; reload: () => Promise<void> }) {
  const [who, setWho] = useState('');
  const [kind, setKind] = useState<'technician' | 'group'>('technician');
  const [effect, setEffect] = useState<'allow' | 'deny'>('allow');
  const [services, setServices] = useState('');
  const [hours, setHours] = useState('');
  return (
    <Section id="acl" title="ACL rules" count={props.rules.length}>
      <DataTable
        label="ACL rules"
        testId="acl-table"
        rows={props.rules}
        rowKey={(r) => r.id}
        empty="No rules: under the restricted level every technician is asked to request access."
        columns={[
          { label: 'Rule', cell: (r) => r.id },
          { label: 'Effect', cell: (r) => r.effect },
          { label: 'Who', cell: (r) => (r.technician ? r.technician : `group ${r.group ?? ''}`) },
          { label: 'Services', cell: (r) => (r.services ? r.services.join(', ') : 'all') },
          {
            label: 'Expires',
            cell: (r) =>
              r.notAfterMs ? `${formatTime(r.notAfterMs)} (${formatAgo(r.notAfterMs)})` : 'never',
          },
          { label: 'Created by', cell: (r) => r.createdBy, optional: true },
          {
            label: 'Actions',
            cell: (r) => (
              <ActionButton
                label="Remove"
                testId={`remove-${r.id}`}
                confirm={`Remove rule ${r.id}?`}
                action={async () => {
                  await props.api.delete(`/v1/acl/${r.id}`);
                  await props.reload();
                }}
              />
            ),
          },
        ]}
      />
      <form class="inline" aria-label="Add an ACL rule" onSubmit={(e) => e.preventDefault()}>
        <label>
          Effect
          <select
            value={effect}
            onChange={(e) => setEffect((e.target as HTMLSelectElement).value as 'allow')}
          >
            <option value="allow">allow</option>
            <option value="deny">deny</option>
          </select>
        </label>
        <label>
          Match
          <select
            value={kind}
            onChange={(e) => setKind((e.target as HTMLSelectElement).value as 'technician')}
          >
            <option value="technician">technician</option>
            <option value="group">group</option>
          </select>
        </label>
        <label>
          {kind === 'technician' ? 'Technician' : 'Group'}
          <input value={who} onInput={(e) => setWho((e.target as HTMLInputElement).value)} required />
        </label>
        <label>
          Services (optional)
          <input value={services} onInput={(e) => setServices((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          For hours (optional)
          <input
            type="number"
            min={1}
            value={hours}
            onInput={(e) => setHours((e.target as HTMLInputElement).value)}
          />
        </label>
        <ActionButton
          label="Add rule"
          testId="acl-add"
          action={async () => {
            const list = splitList(services);
            await props.api.post('/v1/acl', {
              effect,
              [kind]: who.trim(),
              ...(list.length ? { services: list } : {}),
              ...(hours ? { forMs: Math.round(Number(hours) * 3_600_000) } : {}),
            });
            setWho('');
            await props.reload();
          }}
        />
      </form>
    </Section>
  );
}
