// `lifeline hub rotate ca|ticket-key`: starts a rotation of the hub's CA or ticket-signing key. Agents
// pick the new one up over call home during the overlap; at its end the hub switches over.

import type { Command } from 'commander';
import { formatDurationMs, parseDurationMs } from '../../common/config/index.js';
import { hubPaths, loadHubConfig, startCaRotation, startTicketKeyRotation } from '../../hub/index.js';
import { withStore } from './hub.js';
import { printLine, tty } from '../io.js';
import { LifelineError } from '../../common/errors.js';

async function auditRotation(dataDir: string, action: string, overlapEndsAtMs: number): Promise<void> {
  await withStore(dataDir, (store) =>
    store.appendAudit({
      atMs: Date.now(),
      actor: 'operator@cli',
      action,
      stationId: null,
      detail: { overlapEnds: new Date(overlapEndsAtMs).toISOString() },
    }),
  );
}

/**
 * A rotation writes the next keys into one node's data directory; the other nodes of a cluster
 * would neither trust nor use them. Refused there rather than splitting the cluster's trust.
 */
function refuseOnCluster(storeKind: 'sqlite' | 'postgres'): void {
  if (storeKind === 'postgres')
    throw new LifelineError(
      'CONFIG_INVALID',
      'lifeline hub rotate works on a hub with its own SQLite store; on a cluster of nodes sharing PostgreSQL it would rotate one node only, so it is refused',
    );
}

export function registerHubRotateCommands(hub: Command): void {
  const rotate = hub
    .command('rotate')
    .description("rotate the hub's CA or ticket key, with an overlap during which agents pin the new one");
  rotate
    .command('ca')
    .description(
      'a new CA: trusted beside the old one during the overlap, signing renewed station certificates; at its end the hub serves a certificate from it and drops the old CA',
    )
    .requiredOption('--data <dir>', 'hub data directory')
    .option(
      '--overlap <duration>',
      'how long both CAs are trusted (default: rotationOverlap in hub.yaml, 7d)',
    )
    .action(async (opts: { data: string; overlap?: string }) => {
      const config = loadHubConfig(opts.data);
      refuseOnCluster(config.store.kind);
      const overlapMs =
        opts.overlap === undefined ? config.rotationOverlap : parseDurationMs(opts.overlap, '--overlap');
      const { overlapEndsAtMs } = await startCaRotation(
        opts.data,
        hubPaths(opts.data),
        overlapMs,
        Date.now(),
        config.apiUrl,
      );
      await auditRotation(opts.data, 'trust.rotate.ca', overlapEndsAtMs);
      printLine(
        tty`CA rotation started; the overlap ends ${new Date(overlapEndsAtMs).toISOString()} (${formatDurationMs(overlapMs)}).`,
      );
      printLine(
        tty`Agents that call home before then pin the new CA; an agent that does not must be enrolled again.`,
      );
      printLine(
        tty`Technicians need the new CA certificate (ca.pem) after the overlap, when the technician API serves its new certificate from the next hub start.`,
      );
    });
  rotate
    .command('ticket-key')
    .description('a new ticket-signing key: pinned by agents during the overlap, signing tickets after it')
    .requiredOption('--data <dir>', 'hub data directory')
    .option(
      '--overlap <duration>',
      'how long before the hub signs with the new key (default: rotationOverlap, 7d)',
    )
    .action(async (opts: { data: string; overlap?: string }) => {
      const config = loadHubConfig(opts.data);
      refuseOnCluster(config.store.kind);
      const overlapMs =
        opts.overlap === undefined ? config.rotationOverlap : parseDurationMs(opts.overlap, '--overlap');
      const { overlapEndsAtMs } = startTicketKeyRotation(
        opts.data,
        hubPaths(opts.data),
        overlapMs,
        Date.now(),
      );
      await auditRotation(opts.data, 'trust.rotate.ticket-key', overlapEndsAtMs);
      printLine(
        tty`Ticket-key rotation started; the hub signs tickets with the new key from ${new Date(overlapEndsAtMs).toISOString()} (${formatDurationMs(overlapMs)}).`,
      );
      printLine(
        tty`Agents pin the new key over call home (at start, after each renewal, every hour); tickets signed with it are refused only by an agent that has not called home since.`,
      );
    });
}
