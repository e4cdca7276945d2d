// What the hub knows of each station's health: its last heartbeat (recorded by report ingest), the
// interval it announced, the status of its systems, and whether the hub has declared it silent.
// Inventory and performance samples are read from the stored reports themselves, so retention of
// reports covers them too.

import type { HeartbeatPayload, InventoryPayload, PerformanceSample } from '../../protocol/index.js';

export interface StationHealth {
  stationId: string;
  /** When the hub received the last heartbeat (hub clock). */
  lastHeartbeatAtMs: number;
  heartbeatIntervalMs: number;
  systems: HeartbeatPayload['systems'];
  /** Set when the hub declared the station silent; null while it is heard. */
  silentSinceMs: number | null;
}

export interface StoredInventory {
  reportId: string;
  createdAtMs: number;
  receivedAtMs: number;
  inventory: InventoryPayload;
}

export interface StoredSample {
  reportId: string;
  source: string;
  sample: PerformanceSample;
}

export interface HubStationHealthStore {
  /** Every station that sent a heartbeat, by Station ID. */
  listHealth(): Promise<StationHealth[]>;
  /**
   * Declares the station silent, unless a heartbeat came since `lastHeartbeatAtMs` was read or it
   * is silent already: true only for the one caller that changed it (several hub nodes may check).
   */
  markSilent(stationId: string, lastHeartbeatAtMs: number, nowMs: number): Promise<boolean>;
  /** Clears the silent mark; true only for the caller that cleared it. */
  markHeard(stationId: string): Promise<boolean>;
  /** The station's newest inventory (by the time the agent made it). */
  latestInventory(stationId: string): Promise<StoredInventory | undefined>;
  /**
   * The station's performance samples taken in [sinceMs, untilMs], oldest first, optionally of one
   * source ('host' or a system serial).
   */
  performanceSamples(
    stationId: string,
    sinceMs: number,
    untilMs: number,
    options?: { source?: string },
  ): Promise<StoredSample[]>;
}
