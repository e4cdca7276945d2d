// What the outbox puts on the wire besides the reports themselves: a report's manifest, which due
// reports fit one batch, the batch's manifest texts, and reading the hub's answer to a batch.

import { buildManifest, type Manifest } from '../../protocol/index.js';
import {
  reportBatchAnswerSchema,
  type ReportBatchAnswer,
  type ReportEnvelope,
} from '../../protocol/index.js';
import type { OutboxItem } from './outbox-store.js';
import { describeReport } from './report-contents.js';

/** The manifest of a stored report: its exact bytes, their SHA-256, and what they hold. */
export function manifestOf(item: OutboxItem): Manifest {
  return buildManifest(item.body, { kind: item.kind, id: item.id, contains: describeItem(item) });
}

/** Due reports that fit one batch: in order, within the byte budget (the first always fits). */
export function fitBatch(items: OutboxItem[], maxBytes: number): OutboxItem[] {
  let bytes = 0;
  const batch: OutboxItem[] = [];
  for (const item of items) {
    if (batch.length > 0 && bytes + item.bytes + 1 > maxBytes) break;
    bytes += item.bytes + 1;
    batch.push(item);
  }
  return batch;
}

/** For the manifest: what one report holds, e.g. "problem.open PB-…: Fan 3 failed". */
export function describeItem(item: OutboxItem): string {
  try {
    return describeReport(JSON.parse(item.body) as ReportEnvelope);
  } catch {
    // The body was serialized by accept(), so this cannot happen; the kind alone still says enough.
    return item.kind;
  }
}

/** For the manifest: a lone report's own description, or "3 reports: 2 heartbeat, 1 problem.open". */
export function describeBatch(items: OutboxItem[]): string {
  const [only] = items;
  if (only && items.length === 1) return describeItem(only).slice(0, 500);
  const byKind = new Map<string, number>();
  for (const item of items) byKind.set(item.kind, (byKind.get(item.kind) ?? 0) + 1);
  const kinds = [...byKind].map(([kind, n]) => `${n} ${kind}`).join(', ');
  return `${items.length} report${items.length === 1 ? '' : 's'}: ${kinds}`.slice(0, 500);
}

/** The hub's answers in batch order, or undefined when they do not answer exactly these reports. */
export function parseBatchAnswer(
  text: string,
  items: OutboxItem[],
): ReportBatchAnswer['results'] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = reportBatchAnswerSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const results = parsed.data.results;
  if (results.length !== items.length || results.some((r, i) => r.id !== items[i]?.id)) return undefined;
  return results;
}
