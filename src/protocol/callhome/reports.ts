// Call-home reports on the wire: the envelope every report travels in, the kinds and their
// payloads, and the hub's answer. The envelope id is the idempotency key: the hub stores each id
// once, so a report sent again after a crash or a lost answer is never stored twice.

import { z } from 'zod';
import {
  genericReportSchema,
  heartbeatPayloadSchema,
  inventoryPayloadSchema,
  performancePayloadSchema,
} from './report-payloads.js';

export const reportKinds = [
  'problem.open',
  'problem.update',
  'problem.close',
  'inventory',
  'heartbeat',
  'performance',
  'generic',
] as const;
export type ReportKind = (typeof reportKinds)[number];

export const severities = ['critical', 'major', 'minor', 'informational'] as const;

export const managedSystemSchema = z
  .object({
    serial: z.string().min(1).max(64),
    type: z.string().max(64).optional(),
    model: z.string().max(64).optional(),
  })
  .strict();

/** A problem as the appliance knows it: `localId` is the agent's own id of the problem. */
export const problemOpenSchema = z
  .object({
    localId: z.string().regex(/^PB-[0-9A-Z]{6}$/),
    summary: z.string().min(1).max(500),
    severity: z.enum(severities),
    referenceCode: z.string().max(64).optional(),
    description: z.string().max(20_000).optional(),
    system: managedSystemSchema.optional(),
    parts: z.array(z.string().max(128)).max(100).optional(),
    occurredAtMs: z.number().int().nonnegative(),
  })
  .strict();

export const problemUpdateSchema = z
  .object({ localId: z.string().regex(/^PB-[0-9A-Z]{6}$/), note: z.string().min(1).max(20_000) })
  .strict();

export const problemCloseSchema = z
  .object({ localId: z.string().regex(/^PB-[0-9A-Z]{6}$/), note: z.string().max(20_000).optional() })
  .strict();

/** Any payload is an object; checkReportPayload checks it against its kind's schema. */
export const genericPayloadSchema = z.record(z.string(), z.unknown());

export const reportEnvelopeSchema = z
  .object({
    id: z.string().regex(/^[0-9a-f]{32}$/, 'a report id: 32 hex digits'),
    kind: z.enum(reportKinds),
    createdAtMs: z.number().int().nonnegative(),
    /** Reports with the same order key are delivered in the order they were accepted. */
    orderKey: z.string().max(64).nullable(),
    payload: genericPayloadSchema,
  })
  .strict();

export type ReportEnvelope = z.infer<typeof reportEnvelopeSchema>;

export const reportAnswerSchema = z
  .object({
    stored: z.boolean(),
    /** True when the hub had this id already: the report was not stored again. */
    duplicate: z.boolean(),
    /** The vendor's problem number, for problem reports. */
    problemNumber: z.string().optional(),
  })
  .strict();

export type ReportAnswer = z.infer<typeof reportAnswerSchema>;

/** Checks a payload against the schema of its kind; returns a reason when it does not fit. */
export function checkReportPayload(kind: ReportKind, payload: unknown): string | undefined {
  const schema =
    kind === 'problem.open'
      ? problemOpenSchema
      : kind === 'problem.update'
        ? problemUpdateSchema
        : kind === 'problem.close'
          ? problemCloseSchema
          : kind === 'inventory'
            ? inventoryPayloadSchema
            : kind === 'heartbeat'
              ? heartbeatPayloadSchema
              : kind === 'performance'
                ? performancePayloadSchema
                : kind === 'generic'
                  ? genericReportSchema
                  : genericPayloadSchema;
  const result = schema.safeParse(payload);
  return result.success
    ? undefined
    : result.error.issues.map((i) => `${i.path.join('.') || kind}: ${i.message}`).join('; ');
}

/**
 * Batches: `POST /v1/reports/batch` with `content-type: application/x-ndjson`, one envelope's exact
 * JSON bytes per line, in delivery order, and a manifest whose parts name each report. The hub
 * stores each line's bytes as that report's body and answers each report on its own.
 */
export const reportBatchContentType = 'application/x-ndjson';
/** Keeps the manifest header (one part per report) well under HTTP/2 header limits. */
export const maxReportsPerBatch = 50;

export const reportBatchAnswerSchema = z
  .object({
    results: z
      .array(
        z
          .object({
            id: z.string(),
            /** The HTTP status this report would have had alone: 201 stored, 200 duplicate, 4xx refused. */
            status: z.number().int(),
            /** The answer it would have had alone: a report answer, or { code, message }. */
            answer: z.record(z.string(), z.unknown()),
          })
          .strict(),
      )
      .max(maxReportsPerBatch),
  })
  .strict();

export type ReportBatchAnswer = z.infer<typeof reportBatchAnswerSchema>;
