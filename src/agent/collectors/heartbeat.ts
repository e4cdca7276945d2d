// The heartbeat report: the time, the host's uptime, the interval the station promises (the hub
// marks it silent when heartbeats stop for about twice that) and the status of every managed system.

import { uptime as osUptime } from 'node:os';
import { z } from 'zod';
import { systemStatuses, type HeartbeatPayload, type SystemStatus } from '../../protocol/index.js';
import { parseUptime } from './proc-stats.js';
import { readTextFile, type ReadText } from './inventory.js';

/** Statuses as the appliance software last set them, by serial (kept in agent.db). */
export const storedStatusesSchema = z.record(
  z.string(),
  z.object({ status: z.enum(systemStatuses), detail: z.string().max(500).optional(), sinceMs: z.number() }),
);

export type StoredStatuses = z.infer<typeof storedStatusesSchema>;

/** The new statuses map, and whether the status itself changed (a new detail alone keeps sinceMs). */
export function applyStatus(
  statuses: StoredStatuses,
  serial: string,
  status: SystemStatus,
  detail: string | undefined,
  nowMs: number,
): { statuses: StoredStatuses; changed: boolean } {
  const before = statuses[serial];
  const changed = before?.status !== status;
  return {
    statuses: {
      ...statuses,
      [serial]: {
        status,
        ...(detail ? { detail } : {}),
        sinceMs: changed ? nowMs : (before?.sinceMs ?? nowMs),
      },
    },
    changed,
  };
}

export function hostUptimeSeconds(read: ReadText = readTextFile): number {
  return parseUptime(read('/proc/uptime') ?? '') ?? osUptime();
}

/** Every known system is reported; one whose status was never set is `unknown`. */
export function buildHeartbeat(options: {
  nowMs: number;
  uptimeSeconds: number;
  intervalMs: number;
  serials: readonly string[];
  statuses: StoredStatuses;
}): HeartbeatPayload {
  return {
    atMs: options.nowMs,
    uptimeSeconds: options.uptimeSeconds,
    intervalMs: options.intervalMs,
    systems: options.serials.map((serial) => {
      const known = options.statuses[serial];
      return known
        ? {
            serial,
            status: known.status,
            ...(known.detail ? { detail: known.detail } : {}),
            sinceMs: known.sinceMs,
          }
        : { serial, status: 'unknown' as const };
    }),
  };
}
