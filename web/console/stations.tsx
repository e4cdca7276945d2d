// Stations: who is enrolled, online, silent or revoked, and when certificates expire; search by
// Station ID with its check character checked as it is typed.

import { useState } from 'preact/hooks';
import { parseStationId } from '../../src/protocol/station-id.js';
import { Badge, DataTable, Section, When, formatTime } from '../shared/ui.js';

export interface StationRow {
  stationId: string;
  name: string;
  model?: string | null;
  online: boolean;
  connectedSince: string | null;
  lastSeen: string | null;
  lastHeartbeatAt?: string | null;
  silent?: boolean;
  certNotAfter: string | null;
  revoked: boolean;
}

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : null);

/** What the search box says about its text: a Station ID, a mistyped one, or a name to look for. */
export function readSearch(text: string): { stationId: string | null; problem: string | null } {
  const trimmed = text.trim();
  if (!/^st-?/i.test(trimmed)) return { stationId: null, problem: null };
  try {
    return { stationId: parseStationId(trimmed), problem: null };
  } catch (err) {
    return { stationId: null, problem: err instanceof Error ? err.message : String(err) };
  }
}

export function StationsSection(props: { stations: StationRow[] }) {
  const [search, setSearch] = useState('');
  const { stationId, problem } = readSearch(search);
  const words = search.trim().toLowerCase();
  const shown = props.stations.filter((s) =>
    stationId
      ? s.stationId === stationId
      : problem
        ? false
        : !words || `${s.stationId} ${s.name} ${s.model ?? ''}`.toLowerCase().includes(words),
  );
  const silent = props.stations.filter((s) => s.silent && !s.revoked).length;
  return (
    <Section id="stations" title="Stations" count={props.stations.length}>
      <label class="muted" style={{ display: 'block', marginBottom: '0.5rem' }}>
        Search by Station ID or name{' '}
        <input
          type="search"
          value={search}
          data-testid="station-search"
          aria-invalid={problem ? 'true' : 'false'}
          aria-describedby="station-search-help"
          onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
        />
      </label>
      <p id="station-search-help" class={problem ? 'error' : 'muted'} data-testid="station-search-help">
        {problem ?? (stationId ? `Station ID ${stationId} (check character correct)` : `${silent} silent`)}
      </p>
      <DataTable
        label="Stations"
        testId="stations-table"
        rows={shown}
        rowKey={(s) => s.stationId}
        empty={problem ? 'Check the Station ID.' : 'No station matches.'}
        columns={[
          { label: 'Station ID', cell: (s) => <strong>{s.stationId}</strong> },
          { label: 'Name', cell: (s) => s.name },
          { label: 'Model', cell: (s) => s.model ?? '—', optional: true },
          {
            label: 'State',
            cell: (s) =>
              s.revoked ? (
                <Badge tone="bad">revoked</Badge>
              ) : s.online ? (
                <Badge tone="good">online</Badge>
              ) : (
                <Badge tone="neutral">offline</Badge>
              ),
          },
          {
            label: 'Last heartbeat',
            cell: (s) => (
              <>
                <When ms={ms(s.lastHeartbeatAt)} />
                {s.silent && !s.revoked ? (
                  <>
                    {' '}
                    <Badge tone="warn">silent</Badge>
                  </>
                ) : null}
              </>
            ),
          },
          { label: 'Certificate expires', cell: (s) => formatTime(ms(s.certNotAfter)), optional: true },
        ]}
      />
    </Section>
  );
}
