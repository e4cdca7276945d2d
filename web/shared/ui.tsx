// Small building blocks both pages share: sections, tables, buttons, times, sizes and a line chart.
// Plain elements with labels, so every control is reachable and named for the keyboard and for
// screen readers.

import type { ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';

export function Section(props: {
  id: string;
  title: string;
  count?: number | undefined;
  actions?: ComponentChildren;
  children: ComponentChildren;
}): JSX.Element {
  return (
    <section class="card" id={props.id} aria-labelledby={`${props.id}-title`}>
      <header class="card-head">
        <h2 id={`${props.id}-title`}>
          {props.title}
          {props.count !== undefined ? (
            <span class="count" data-testid={`${props.id}-count`}>
              {props.count}
            </span>
          ) : null}
        </h2>
        {props.actions ? <div class="card-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}

export interface Column<Row> {
  label: string;
  cell: (row: Row) => ComponentChildren;
  /** Narrow screens hide the columns that matter least. */
  optional?: boolean;
}

export function DataTable<Row>(props: {
  label: string;
  rows: readonly Row[];
  columns: readonly Column<Row>[];
  rowKey: (row: Row) => string;
  empty: string;
  testId?: string;
}): JSX.Element {
  if (props.rows.length === 0) return <p class="empty">{props.empty}</p>;
  return (
    <div class="table-wrap">
      <table aria-label={props.label} data-testid={props.testId}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" class={c.optional ? 'optional' : undefined} key={c.label}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr key={props.rowKey(row)}>
              {props.columns.map((c) => (
                <td class={c.optional ? 'optional' : undefined} key={c.label}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A button that runs an action once at a time and shows its error next to it. */
export function ActionButton(props: {
  label: string;
  action: () => Promise<unknown>;
  kind?: 'primary' | 'danger' | 'plain';
  confirm?: string;
  testId?: string;
  disabled?: boolean;
}): JSX.Element {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async () => {
    if (props.confirm && !window.confirm(props.confirm)) return;
    setBusy(true);
    setError(null);
    try {
      await props.action();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button
        type="button"
        class={props.kind ?? 'plain'}
        disabled={busy || props.disabled}
        aria-busy={busy}
        data-testid={props.testId}
        onClick={() => void run()}
      >
        {props.label}
      </button>
      {error ? (
        <span class="error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}

export function CopyButton(props: { text: string; label: string }): JSX.Element {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="plain small"
      aria-label={props.label}
      onClick={() => {
        void navigator.clipboard?.writeText(props.text).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        });
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return new Date(ms).toLocaleString(undefined, { hour12: false });
}

export function formatAgo(ms: number | null | undefined, nowMs: number = Date.now()): string {
  if (ms === null || ms === undefined) return '—';
  const seconds = Math.round((nowMs - ms) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  const text =
    s < 60
      ? `${s} s`
      : s < 3600
        ? `${Math.floor(s / 60)} min`
        : s < 86_400
          ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
          : `${Math.floor(s / 86_400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** A moment as "5 min ago" with the exact time on hover and for screen readers. */
export function When(props: { ms: number | null | undefined }): JSX.Element {
  if (props.ms === null || props.ms === undefined) return <span>—</span>;
  const exact = new Date(props.ms).toISOString();
  return (
    <time dateTime={exact} title={formatTime(props.ms)}>
      {formatAgo(props.ms)}
    </time>
  );
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function Badge(props: { tone: 'good' | 'warn' | 'bad' | 'neutral'; children: ComponentChildren }) {
  return <span class={`badge ${props.tone}`}>{props.children}</span>;
}

export interface Series {
  name: string;
  points: readonly { x: number; y: number }[];
}

/**
 * A line chart drawn as SVG: time on x, values on y, one line per series; the figures are also in a
 * visually hidden table so the chart is not only a picture.
 */
export function LineChart(props: {
  title: string;
  series: readonly Series[];
  unit: string;
  testId?: string;
  height?: number;
}): JSX.Element {
  const width = 600;
  const height = props.height ?? 180;
  const pad = { left: 48, right: 12, top: 10, bottom: 24 };
  const all = props.series.flatMap((s) => s.points);
  if (all.length === 0) return <p class="empty">No data yet for {props.title.toLowerCase()}.</p>;
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  const yMax = niceCeiling(Math.max(...ys, 0));
  const x = (v: number) => pad.left + ((v - xMin) / (xMax - xMin)) * (width - pad.left - pad.right);
  const y = (v: number) => height - pad.bottom - (v / yMax) * (height - pad.top - pad.bottom);
  const ticks = [0, yMax / 2, yMax];
  return (
    <figure class="chart" data-testid={props.testId}>
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.title}>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={pad.left} x2={width - pad.right} y1={y(t)} y2={y(t)} class="grid" />
            <text x={pad.left - 6} y={y(t) + 4} text-anchor="end" class="tick">
              {formatTick(t)}
            </text>
          </g>
        ))}
        <text x={pad.left} y={height - 6} class="tick">
          {new Date(xMin).toLocaleTimeString(undefined, { hour12: false })}
        </text>
        <text x={width - pad.right} y={height - 6} text-anchor="end" class="tick">
          {new Date(xMax).toLocaleTimeString(undefined, { hour12: false })}
        </text>
        {props.series.map((s, index) => (
          <polyline
            key={s.name}
            class={`line line-${index % 4}`}
            points={s.points.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ')}
          />
        ))}
      </svg>
      <ul class="legend">
        {props.series.map((s, index) => (
          <li key={s.name}>
            <span class={`swatch line-${index % 4}`} aria-hidden="true" />
            {s.name} ({props.unit})
          </li>
        ))}
      </ul>
      <div class="visually-hidden">
        <table>
          <caption>{props.title}</caption>
          <tbody>
            {props.series.flatMap((s) =>
              s.points.map((p) => (
                <tr key={`${s.name}-${p.x}`}>
                  <th scope="row">{`${s.name} ${new Date(p.x).toISOString()}`}</th>
                  <td>{`${p.y} ${props.unit}`}</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

function formatTick(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return String(Math.round(value * 100) / 100);
}
