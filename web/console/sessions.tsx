// Service sessions seen by the hub: the active ones and the recent ones, with technician and length.

import type { ApiClient } from '../shared/api.js';
import { DataTable, Section, When, formatBytes } from '../shared/ui.js';
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

export function SessionsSection(props: {
  api: ApiClient;
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
