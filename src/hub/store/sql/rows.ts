// Conversions between the hub's records and their rows, shared by the parts of the SQL store.
// Numbers: SQLite gives integers as numbers, PostgreSQL gives a bigint as a string.

import type { Insertable } from 'kysely';
import type { HubAuditEntry } from '../hub-store.js';
import type { HubDatabase } from './schema.js';

export const num = (value: number | string | bigint): number => Number(value);

export const numOrNull = (value: number | string | bigint | null): number | null =>
  value === null ? null : Number(value);

export function auditRow(entry: Omit<HubAuditEntry, 'seq'>): Insertable<HubDatabase['hub_audit']> {
  return {
    at: entry.atMs,
    actor: entry.actor,
    action: entry.action,
    station_id: entry.stationId,
    detail: JSON.stringify(entry.detail),
  };
}
