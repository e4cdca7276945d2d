// `lifeline hub rotate ca|ticket-key`: starts a rotation of the hub's CA or ticket-signing key. Agents
// pick the new one up over call home during the overlap; at its end the hub switches over. On a
// cluster, every node takes the rotation from the database within a second and uses it within two.

import type { Command } from 'commander';
import { formatDurationMs, parseDurationMs } from '../../common/config/index.js';
import { hubPaths, loadHubConfig, startCaRotation, startTicketKeyRotation } from '../../hub/index.js';
import { withStore } from './hub.js';
import { printLine, tty } from '../io.js';
import { LifelineError } from '../../common/errors.js';
import { createLogger } from '../../common/logger.js';
import { openClusterTrustMirror } from '../../hub/cluster/index.js';

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
 * Runs a rotation on this node's data directory. On a cluster node the directory first takes the
 * cluster's current files, and the result is pushed to every node (trust-mirror.ts): the other
 * nodes take it within a second and use it within two. A rotation pushed meanwhile is refused.
 */
async function rotateEverywhere<T>(dataDir: string, apiUrl: string, rotate: () => Promise<T>): Promise<T> {
  return withStore(dataDir, async (store) => {
    const logger = createLogger({ name: 'hub rotate', level: 'warn' });
    const mirror = await openClusterTrustMirror({ store, dataDir, apiUrl, logger });
    const result = await rotate();
    if (mirror && !(await mirror.push(Date.now())))
      throw new LifelineError(
        'CONFIG_EXISTS',
        "another node changed the cluster's keys at the same time: run lifeline hub rotate again to see the rotation under way",
      );
    await mirror?.close();
    return result;
  });
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
      const overlapMs =
        opts.overlap === undefined ? config.rotationOverlap : parseDurationMs(opts.overlap, '--overlap');
      const { overlapEndsAtMs } = await rotateEverywhere(opts.data, config.apiUrl, () =>
        startCaRotation(opts.data, hubPaths(opts.data), overlapMs, Date.now(), config.apiUrl),
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
      const overlapMs =
        opts.overlap === undefined ? config.rotationOverlap : parseDurationMs(opts.overlap, '--overlap');
      const { overlapEndsAtMs } = await rotateEverywhere(opts.data, config.apiUrl, () =>
        Promise.resolve(startTicketKeyRotation(opts.data, hubPaths(opts.data), overlapMs, Date.now())),
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
