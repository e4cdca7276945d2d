// Live sessions with their stop buttons, and the charts: session activity and host performance.

import type { ApiClient } from '../shared/api.js';
import { ActionButton, DataTable, LineChart, Section, When, formatBytes, type Series } from '../shared/ui.js';
import type { ActiveSession, PerformanceSample, SessionRecord } from './types.js';

export function SessionsSection(props: {
  api: ApiClient;
  active: ActiveSession[];
  reload: () => Promise<void>;
}) {
  return (
    <Section
      id="sessions"
      title="Live sessions"
      count={props.active.length}
      actions={
        <ActionButton
          label="Stop all service sessions"
          kind="danger"
          testId="stop-all"
          disabled={props.active.length === 0}
          confirm="Stop every service session now?"
          action={async () => {
            await props.api.post('/v1/sessions/stop-all');
            await props.reload();
          }}
        />
      }
    >
      <DataTable
        label="Live sessions"
        testId="sessions-table"
        rows={props.active}
        rowKey={(s) => s.id}
        empty="No service session is open."
        columns={[
          { label: 'Technician', cell: (s) => `${s.technicianName} (${s.technician})` },
          { label: 'Service', cell: (s) => s.service },
          { label: 'Since', cell: (s) => <When ms={s.startedAtMs} /> },
          { label: 'To appliance', cell: (s) => formatBytes(s.bytesIn), optional: true },
          { label: 'To technician', cell: (s) => formatBytes(s.bytesOut), optional: true },
          {
            label: 'Actions',
            cell: (s) => (
              <ActionButton
                label="Stop"
                testId={`stop-${s.id}`}
                action={async () => {
                  await props.api.delete(`/v1/sessions/${s.id}`);
                  await props.reload();
                }}
              />
            ),
          },
        ]}
      />
    </Section>
  );
}

/** Sessions open at each minute of the last hour, from the recent sessions and the live ones. */
export function sessionActivity(
  recent: readonly SessionRecord[],
  active: readonly ActiveSession[],
  nowMs: number,
): Series[] {
  const minute = 60_000;
  const end = Math.ceil(nowMs / minute) * minute;
  const start = end - 60 * minute;
  const spans = [
    ...recent.map((s) => [s.startedAtMs, s.endedAtMs ?? nowMs] as const),
    ...active.map((s) => [s.startedAtMs, nowMs] as const),
  ];
  const open: { x: number; y: number }[] = [];
  const started: { x: number; y: number }[] = [];
  for (let t = start; t <= end; t += minute) {
    open.push({ x: t, y: spans.filter(([a, b]) => a < t + minute && b >= t).length });
    started.push({ x: t, y: spans.filter(([a]) => a >= t && a < t + minute).length });
  }
  return [
    { name: 'sessions open', points: open },
    { name: 'sessions started', points: started },
  ];
}

export function ActivityCharts(props: {
  recent: SessionRecord[];
  active: ActiveSession[];
  performance: PerformanceSample[];
}) {
  const samples = [...props.performance].sort((a, b) => a.atMs - b.atMs);
  const series = (name: string, value: (s: PerformanceSample) => number | undefined): Series => ({
    name,
    points: samples.flatMap((s) => {
      const y = value(s);
      return y === undefined ? [] : [{ x: s.atMs, y: Math.round(y * 10) / 10 }];
    }),
  });
  const sum = (list: readonly { [key: string]: unknown }[] | undefined, key: string) =>
    list?.reduce((total, item) => total + (typeof item[key] === 'number' ? item[key] : 0), 0);
  return (
    <Section id="charts" title="Activity">
      <LineChart
        title="Service sessions, last hour"
        unit="sessions"
        testId="chart-sessions"
        series={sessionActivity(props.recent, props.active, Date.now())}
      />
      <LineChart
        title="Host processor and memory"
        unit="%"
        testId="chart-performance"
        series={[
          series('processor', (s) => s.cpu?.utilizationPct),
          series('memory used', (s) =>
            s.memory ? (100 * s.memory.usedBytes) / s.memory.totalBytes : undefined,
          ),
        ]}
      />
      <LineChart
        title="Host network and disk"
        unit="KiB/s"
        testId="chart-io"
        series={[
          series('network in', (s) => (sum(s.network, 'rxBytesPerSec') ?? 0) / 1024),
          series('network out', (s) => (sum(s.network, 'txBytesPerSec') ?? 0) / 1024),
          series('disk read', (s) => (sum(s.disks, 'readBytesPerSec') ?? 0) / 1024),
          series('disk write', (s) => (sum(s.disks, 'writeBytesPerSec') ?? 0) / 1024),
        ]}
      />
    </Section>
  );
}
