// What the appliance keeps of fixes: every download and refusal in the audit log, and the list of
// fixes downloaded (a setting in agent.db) so `agent fixes` can say which are here already.

import { z } from 'zod';
import { fixNameSchema, fixVersionSchema } from '../../protocol/index.js';
import type { AgentStore } from '../store/index.js';

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

/** Writes the audit entry first: a download that cannot be recorded is not remembered either. */
export async function recordFixEvent(
  store: Pick<AgentStore, 'getSetting' | 'setSetting'>,
  audit: (action: string, detail: Record<string, unknown>) => Promise<{ atMs: number }>,
  event: FixEvent,
): Promise<void> {
  const { event: kind, ...detail } = event;
  const entry = await audit(kind === 'downloaded' ? 'fix.downloaded' : 'fix.refused', detail);
  if (event.event !== 'downloaded') return;
  const kept = (await listFixDownloads(store)).filter(
    (d) => !(d.name === event.name && d.version === event.version && d.path === event.path),
  );
  kept.unshift({
    name: event.name,
    version: event.version,
    sha256: event.sha256,
    path: event.path,
    atMs: entry.atMs,
  });
  await store.setSetting(fixDownloadsSetting, kept.slice(0, maxRemembered));
}

export async function listFixDownloads(store: Pick<AgentStore, 'getSetting'>): Promise<FixDownload[]> {
  const value = await store.getSetting(fixDownloadsSetting);
  return Array.isArray(value) ? (value as FixDownload[]) : [];
}
