// hub.yaml `retention:`: how long the hub keeps each kind of call-home data, and how often it
// purges. Periods are counted from receipt (problem data, inventory, performance, heartbeats) or
// from closure (problems); a year is 365 days.

import { z } from 'zod';
import { durationSchema as duration } from '../../common/config/index.js';

const dayMs = 86_400_000;

export const retentionDefaults = {
  problemData: 3 * dayMs,
  closedProblems: 60 * dayMs,
  inventory: 5 * 365 * dayMs,
  performance: 5 * 365 * dayMs,
  heartbeats: 5 * 365 * dayMs,
  interval: 3_600_000,
} as const;

export const retentionConfigSchema = z
  .object({
    /** Files attached to problems (extended error data), after receipt. */
    problemData: duration('3d', { minMs: 60_000 }),
    /** A closed problem with all its reports, after its closure. Open problems are kept. */
    closedProblems: duration('60d', { minMs: 60_000 }),
    /** Inventory reports after receipt; each station's latest inventory is always kept. */
    inventory: duration('5y', { minMs: 60_000 }),
    performance: duration('5y', { minMs: 60_000 }),
    heartbeats: duration('5y', { minMs: 60_000 }),
    /** How often the running hub applies these rules (also once right after it starts). */
    interval: duration('1h', { minMs: 1000, maxMs: 7 * dayMs }),
  })
  .strict()
  .default({ ...retentionDefaults });

export type RetentionConfig = z.infer<typeof retentionConfigSchema>;
