// Payloads of the collected report kinds: inventory, heartbeat, performance, and the generic typed
// envelope for the others. Every list and string is bounded so that one report stays modest.

import { createHash } from 'node:crypto';
import { z } from 'zod';

const serial = z.string().min(1).max(64);
const name = z.string().min(1).max(128);
const count = z.number().int().nonnegative();
const rate = z.number().nonnegative().finite();

/** Firmware levels by component: { "system": "FW950.50", "bmc": "1.22" }. */
export const firmwareLevelsSchema = z
  .record(z.string().min(1).max(64), z.string().min(1).max(64))
  .refine((levels) => Object.keys(levels).length <= 64, 'expected at most 64 firmware components');

export const hardwarePartSchema = z
  .object({
    name,
    partNumber: z.string().max(64).optional(),
    serial: z.string().max(64).optional(),
    location: z.string().max(128).optional(),
    firmware: z.string().max(64).optional(),
  })
  .strict();

/** A managed system as the appliance knows it. */
export const managedSystemInventorySchema = z
  .object({
    serial,
    type: z.string().max(64).optional(),
    model: z.string().max(64).optional(),
    name: z.string().max(128).optional(),
    firmware: firmwareLevelsSchema.optional(),
    parts: z.array(hardwarePartSchema).max(1000).optional(),
  })
  .strict();

export type ManagedSystemInventory = z.infer<typeof managedSystemInventorySchema>;

export const applianceInventorySchema = z
  .object({
    hostName: z.string().max(255),
    os: z.string().max(255),
    kernel: z.string().max(255),
    cpu: z.object({ model: z.string().max(255), count: count.min(1) }).strict(),
    memoryBytes: count,
    lifelineVersion: z.string().max(64),
    serial: z.string().max(64).optional(),
    model: z.string().max(128).optional(),
    firmware: z.string().max(128).optional(),
  })
  .strict();

export type ApplianceInventory = z.infer<typeof applianceInventorySchema>;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256: 64 hex digits');

export const inventoryPayloadSchema = z
  .object({
    collectedAtMs: count,
    /**
     * SHA-256 of the canonical JSON of { appliance, systems }, as collected (before any redaction):
     * the agent's change detector. The hub stores it and does not recompute it.
     */
    digest: sha256Hex,
    appliance: applianceInventorySchema,
    systems: z.array(managedSystemInventorySchema).max(500),
  })
  .strict();

export type InventoryPayload = z.infer<typeof inventoryPayloadSchema>;

export const systemStatuses = ['ok', 'warning', 'critical', 'unreachable', 'unknown'] as const;
export type SystemStatus = (typeof systemStatuses)[number];

export const systemStatusSchema = z
  .object({
    serial,
    status: z.enum(systemStatuses),
    detail: z.string().max(500).optional(),
    /** When the status last changed, if the appliance said. */
    sinceMs: count.optional(),
  })
  .strict();

export const heartbeatPayloadSchema = z
  .object({
    atMs: count,
    uptimeSeconds: z.number().nonnegative().finite(),
    /** The interval the station promises: the hub marks it silent after about twice that. */
    intervalMs: count.min(60_000),
    systems: z.array(systemStatusSchema).max(500),
  })
  .strict();

export type HeartbeatPayload = z.infer<typeof heartbeatPayloadSchema>;

export const performanceSampleSchema = z
  .object({
    atMs: count,
    /** The span the rates and the utilisation were measured over. */
    spanMs: count.min(1),
    cpu: z
      .object({ utilizationPct: z.number().min(0).max(100), count: count.min(1).optional() })
      .strict()
      .optional(),
    load: z.object({ one: rate, five: rate, fifteen: rate }).strict().optional(),
    memory: z.object({ usedBytes: count, totalBytes: count }).strict().optional(),
    network: z
      .array(z.object({ name, rxBytesPerSec: rate, txBytesPerSec: rate }).strict())
      .max(64)
      .optional(),
    disks: z
      .array(
        z
          .object({
            name,
            readBytesPerSec: rate,
            writeBytesPerSec: rate,
            readIops: rate,
            writeIops: rate,
          })
          .strict(),
      )
      .max(64)
      .optional(),
  })
  .strict();

export type PerformanceSample = z.infer<typeof performanceSampleSchema>;

export const performancePayloadSchema = z
  .object({
    /** 'host' for the appliance itself, or the serial of a managed system. */
    source: serial,
    samples: z.array(performanceSampleSchema).min(1).max(120),
  })
  .strict();

export type PerformancePayload = z.infer<typeof performancePayloadSchema>;

/** Other typed reports: `type` says what `data` holds (maintenance-statistics, deconfigured-resources...). */
export const genericReportSchema = z
  .looseObject({
    type: z
      .string()
      .regex(/^[a-z][a-z0-9.-]{0,63}$/, 'expected a report type such as maintenance-statistics'),
  })
  .refine((p) => JSON.stringify(p).length <= 60_000, 'expected at most 60,000 characters of JSON');

/** JSON with object keys sorted, so that equal content has equal bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function inventoryDigest(inventory: { appliance: unknown; systems: unknown }): string {
  return createHash('sha256')
    .update(canonicalJson({ appliance: inventory.appliance, systems: inventory.systems }))
    .digest('hex');
}
