// Service sessions seen by the hub: the active ones and the recent ones, with technician and length.

import { useEffect, useState } from 'preact/hooks';
import type { ApiClient } from '../shared/api.js';
import { ActionButton, Badge, DataTable, Section, When, formatBytes } from '../shared/ui.js';
import type { StationRow } from './stations.js';

export interface HubSession {
  id: string;
  stationId: string;
  userName: string;
  service: string;
  reason: string | null;
  startedAtMs: number;
  endedAtMs: number | null;
  endReason: string | null;
  bytesToStation: number;
  bytesFromStation: number;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

type ProbeAnswer =
  | { admitted: true; stationId: string; service: string }
  | { admitted: false; stationId: string; service: string; code: string; message: string };

interface Asking {
  stationId: string;
  service: string;
  reason: string;
  state: 'pending approval' | 'approved' | 'connected' | 'refused';
  message: string;
}

/**
 * Ask a station for access with a reason: "pending approval" until the appliance administrator
 * decides (asked again every 2 s), "approved" once admitted, "connected" when this user's session
 * to that service is open (from the technician's own tools: lifeline connect).
 */
function SessionRequest(props: {
  api: ApiClient;
  me: string | null;
  active: HubSession[];
  stations: StationRow[];
}) {
  const online = props.stations.filter((s) => s.online);
  const [stationId, setStationId] = useState('');
  const [service, setService] = useState('');
  const [reason, setReason] = useState('');
  const [asking, setAsking] = useState<Asking | null>(null);
  const ask = async (wait: boolean, what: Pick<Asking, 'stationId' | 'service' | 'reason'>) => {
    const answer = await props.api.post<ProbeAnswer>('/v1/session-requests', {
      stationId: what.stationId,
      service: what.service,
      ...(what.reason ? { reason: what.reason } : {}),
      wait,
    });
    const pending = !answer.admitted && answer.code === 'POLICY_PENDING_APPROVAL';
    setAsking({
      ...what,
      stationId: answer.stationId,
      state: answer.admitted ? 'approved' : pending ? 'pending approval' : 'refused',
      message: answer.admitted
        ? `connect with: lifeline connect ${answer.stationId} --service ${answer.service}`
        : answer.message,
    });
  };
  const waiting = asking?.state === 'pending approval';
  useEffect(() => {
    if (!waiting || !asking) return undefined;
    const timer = setInterval(() => void ask(true, asking).catch(() => undefined), 2000);
    return () => clearInterval(timer);
  }, [waiting, asking?.stationId, asking?.service]);
  const connected =
    asking?.state === 'approved' &&
    props.active.some(
      (s) => s.userName === props.me && s.stationId === asking.stationId && s.service === asking.service,
    );
  const shown = asking && connected ? { ...asking, state: 'connected' as const } : asking;
  const tone = { 'pending approval': 'warn', approved: 'good', connected: 'good', refused: 'bad' } as const;
  return (
    <div>
      <h3>Request a session</h3>
      <form class="inline" aria-label="Request a session" onSubmit={(e) => e.preventDefault()}>
        <label>
          Station ID
          <input
            list="online-stations"
            value={stationId}
            data-testid="request-station"
            onInput={(e) => setStationId((e.target as HTMLInputElement).value)}
          />
          <datalist id="online-stations">
            {online.map((s) => (
              <option key={s.stationId} value={s.stationId}>
                {s.name}
              </option>
            ))}
          </datalist>
        </label>
        <label>
          Service
          <input
            value={service}
            data-testid="request-service"
            onInput={(e) => setService((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Reason or case number
          <input
            value={reason}
            data-testid="request-reason"
            onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          />
        </label>
        <ActionButton
          label="Request"
          kind="primary"
          testId="request-session"
          action={() =>
            ask(false, { stationId: stationId.trim(), service: service.trim(), reason: reason.trim() })
          }
        />
      </form>
      {shown ? (
        <p role="status" data-testid="request-state">
          {shown.stationId} · {shown.service}: <Badge tone={tone[shown.state]}>{shown.state}</Badge>{' '}
          <span class="muted">{shown.message}</span>
        </p>
      ) : null}
    </div>
  );
}

export function SessionsSection(props: {
  api: ApiClient;
  me: string | null;
  sessions: { active: HubSession[]; recent: HubSession[] };
  stations: StationRow[];
}) {
  const names = new Map(props.stations.map((s) => [s.stationId, s.name]));
  const columns = (active: boolean) => [
    { label: 'Technician', cell: (s: HubSession) => s.userName },
    {
      label: 'Station',
      cell: (s: HubSession) =>
        `${s.stationId}${names.get(s.stationId) ? ` (${names.get(s.stationId)})` : ''}`,
    },
    { label: 'Service', cell: (s: HubSession) => s.service },
    { label: 'Started', cell: (s: HubSession) => <When ms={s.startedAtMs} /> },
    {
      label: 'Duration',
      cell: (s: HubSession) => formatDuration((s.endedAtMs ?? Date.now()) - s.startedAtMs),
    },
    ...(active
      ? []
      : [{ label: 'Ended because', cell: (s: HubSession) => s.endReason ?? '—', optional: true }]),
    {
      label: 'Bytes',
      cell: (s: HubSession) => `${formatBytes(s.bytesToStation)} / ${formatBytes(s.bytesFromStation)}`,
      optional: true,
    },
    { label: 'Reason', cell: (s: HubSession) => s.reason ?? '—', optional: true },
  ];
  return (
    <Section id="sessions" title="Service sessions" count={props.sessions.active.length}>
      <SessionRequest
        api={props.api}
        me={props.me}
        active={props.sessions.active}
        stations={props.stations}
      />
      <h3>Active</h3>
      <DataTable
        label="Active sessions"
        testId="active-sessions"
        rows={props.sessions.active}
        rowKey={(s) => s.id}
        empty="No session is open."
        columns={columns(true)}
      />
      <h3>Recent</h3>
      <DataTable
        label="Recent sessions"
        testId="recent-sessions"
        rows={props.sessions.recent}
        rowKey={(s) => s.id}
        empty="No session yet."
        columns={columns(false)}
      />
    </Section>
  );
}
