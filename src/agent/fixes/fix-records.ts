// What the appliance keeps of fixes: every download and refusal in the audit log, and the list of
// fixes downloaded (a setting in agent.db) so `agent fixes` can say which are here already.

import { z } from 'zod';
import { fixNameSchema, fixVersionSchema } from '../../protocol/index.js';
import type { AgentStore, AuditWith } from '../store/index.js';

export const fixDownloadsSetting = 'fix_downloads';
/** The list keeps the newest downloads; the audit log keeps them all. */
const maxRemembered = 500;

export const fixEventSchema = z.discriminatedUnion('event', [
  z
    .object({
      event: z.literal('downloaded'),
      name: fixNameSchema,
      version: fixVersionSchema,
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      path: z.string().min(1).max(4096),
      resumedFromBytes: z.number().int().nonnegative(),
    })
    .strict(),
  z
    .object({
      event: z.literal('refused'),
      name: z.string().max(128),
      version: z.string().max(128).optional(),
      code: z.string().max(64),
      reason: z.string().max(2000),
    })
    .strict(),
]);

export type FixEvent = z.infer<typeof fixEventSchema>;

export interface FixDownload {
  name: string;
  version: string;
  sha256: string;
  path: string;
  atMs: number;
}

/**
 * Writes the event's audit entry through `record` (the AuditLog of the running agent, or the one
 * the CLI opens when none runs); a download is remembered in the same transaction as its entry.
 */
export async function recordFixEvent(
  record: (action: string, detail: Record<string, unknown>, with_: AuditWith) => Promise<unknown>,
  event: FixEvent,
): Promise<void> {
  const { event: _kind, ...detail } = event;
  if (event.event !== 'downloaded') {
    await record('fix.refused', detail, {});
    return;
  }
  await record('fix.downloaded', detail, {
    settings: [{ key: fixDownloadsSetting, update: (current, atMs) => remembered(current, event, atMs) }],
  });
}

/** The list of downloads with this one first (replacing the same fix kept at the same path). */
function remembered(
  current: unknown,
  event: Extract<FixEvent, { event: 'downloaded' }>,
  atMs: number,
): FixDownload[] {
  const kept = downloadsOf(current).filter(
    (d) => !(d.name === event.name && d.version === event.version && d.path === event.path),
  );
  kept.unshift({ name: event.name, version: event.version, sha256: event.sha256, path: event.path, atMs });
  return kept.slice(0, maxRemembered);
}

function downloadsOf(value: unknown): FixDownload[] {
  return Array.isArray(value) ? (value as FixDownload[]) : [];
}

export async function listFixDownloads(store: Pick<AgentStore, 'getSetting'>): Promise<FixDownload[]> {
  return downloadsOf(await store.getSetting(fixDownloadsSetting));
}
