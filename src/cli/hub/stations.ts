// `lifeline hub stations` and `lifeline hub station list|revoke`: the enrolled stations, their
// state and certificate expiry; revocation, which a running hub acts on within a second.

import type { Command } from 'commander';
import { LifelineError } from '../../common/errors.js';
import { isSilent } from '../../hub/index.js';
import { parseStationId } from '../../protocol/index.js';
import { nodeLeaseMs, type StationRecord } from '../../hub/store/index.js';
import { ago, printJson, printLine, printTable, tty } from '../io.js';
import { withStore } from './hub.js';

function stateOf(
  station: StationRecord,
  held: ReadonlyMap<string, unknown>,
): 'online' | 'offline' | 'revoked' {
  if (station.revokedAtMs !== null) return 'revoked';
  return held.has(station.id) ? 'online' : 'offline';
}

/** "in 11h", "expired 3m ago": how far the certificate expiry is from now. */
function expiryText(notAfterMs: number, nowMs: number): string {
  const iso = new Date(notAfterMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (notAfterMs <= nowMs) return `${iso} (expired ${ago(new Date(notAfterMs).toISOString())})`;
  const minutes = Math.round((notAfterMs - nowMs) / 60_000);
  const inText = minutes < 120 ? `${minutes}m` : `${Math.round(minutes / 60)}h`;
  return `${iso} (in ${inText})`;
}

export function registerHubStationCommands(hub: Command): void {
  hub
    .command('stations')
    .description('enrolled stations: Station ID, name, online or offline, last seen, last heartbeat, silent')
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      // Online: connected to a hub node that is alive (a node that died leaves its stations marked
      // connected until they reconnect elsewhere).
      const [stations, health, held] = await withStore(opts.data, async (store) =>
        Promise.all([
          store.listStations(),
          store.health.listHealth(),
          store.cluster.heldStations(Date.now(), nodeLeaseMs),
        ]),
      );
      const healthOf = new Map(health.map((h) => [h.stationId, h]));
      const nowMs = Date.now();
      const rows = stations.map((s) => ({
        stationId: s.id,
        name: s.name,
        online: held.has(s.id),
        lastSeen:
          s.lastSeenAtMs === null
            ? null
            : new Date(held.has(s.id) ? Date.now() : s.lastSeenAtMs).toISOString(),
        revoked: s.revokedAtMs !== null,
        lastHeartbeatAtMs: healthOf.get(s.id)?.lastHeartbeatAtMs ?? null,
        heartbeatIntervalMs: healthOf.get(s.id)?.heartbeatIntervalMs ?? null,
        // No heartbeat for about twice the interval the station announced (see station-silence.ts).
        silent: s.revokedAtMs === null && isSilent(healthOf.get(s.id), nowMs),
      }));
      if (opts.json) printJson(rows);
      else
        printTable(
          rows.map((r) => ({
            station: r.stationId,
            name: r.name,
            state: r.revoked ? 'revoked' : r.online ? 'online' : 'offline',
            'last seen': r.online ? 'now' : ago(r.lastSeen),
            'last heartbeat':
              r.lastHeartbeatAtMs === null
                ? '-'
                : `${ago(new Date(r.lastHeartbeatAtMs).toISOString())}${r.silent ? ' SILENT' : ''}`,
          })),
          ['station', 'name', 'state', 'last seen', 'last heartbeat'],
        );
    });

  const station = hub.command('station').description('one station: list with certificate expiry, revoke');
  station
    .command('list')
    .description('enrolled stations: Station ID, name, online/offline/revoked, certificate expiry')
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const nowMs = Date.now();
      const [stations, held] = await withStore(opts.data, (store) =>
        Promise.all([store.listStations(), store.cluster.heldStations(nowMs, nodeLeaseMs)]),
      );
      const rows = stations.map((s) => ({
        stationId: s.id,
        name: s.name,
        state: stateOf(s, held),
        certNotAfter: new Date(s.certNotAfterMs).toISOString(),
        certNotAfterMs: s.certNotAfterMs,
        certExpired: s.certNotAfterMs <= nowMs,
        connectedSince:
          held.has(s.id) && s.connectedSinceMs !== null ? new Date(s.connectedSinceMs).toISOString() : null,
        revokedAt: s.revokedAtMs === null ? null : new Date(s.revokedAtMs).toISOString(),
      }));
      if (opts.json) printJson(rows);
      else
        printTable(
          rows.map((r) => ({
            station: r.stationId,
            name: r.name,
            state: r.state,
            'certificate expires': expiryText(r.certNotAfterMs, nowMs),
          })),
          ['station', 'name', 'state', 'certificate expires'],
        );
    });

  station
    .command('revoke <station>')
    .description(
      'revoke a station: a running hub closes its tunnel within a second and refuses its connections, reports and renewal from then on',
    )
    .requiredOption('--data <dir>', 'hub data directory')
    .action(async (input: string, opts: { data: string }) => {
      // Validates the symbols and the check character, so a typo does not revoke another station.
      const stationId = parseStationId(input);
      const nowMs = Date.now();
      const outcome = await withStore(opts.data, async (store) => {
        const result = await store.trust.revokeStation(stationId, nowMs);
        if (result === 'revoked') {
          await store.appendAudit({
            atMs: nowMs,
            actor: 'operator@cli',
            action: 'station.revoke',
            stationId,
            detail: {},
          });
        }
        return result;
      });
      if (outcome === 'unknown')
        throw new LifelineError('STATION_UNKNOWN', `station ${stationId} is not enrolled with this hub`);
      if (outcome === 'already') printLine(tty`Station ${stationId} was already revoked`);
      else
        printLine(
          tty`Station ${stationId} revoked: a running hub closes its connections within a second and refuses them from now on`,
        );
    });
}
