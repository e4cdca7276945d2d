// The inventory report: this appliance (from the OS, /proc and DMI) and its managed systems (from
// agent.yaml, and as the appliance software submits them through the admin API). Sent at start, on
// a schedule, on demand, and whenever its digest differs from the last one queued.

import { readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem, version as osVersion } from 'node:os';
import type { Clock } from '../../common/clock.js';
import {
  inventoryDigest,
  managedSystemInventorySchema,
  type ApplianceInventory,
  type InventoryPayload,
  type ManagedSystemInventory,
} from '../../protocol/index.js';
import { z } from 'zod';

export type ReadText = (path: string) => string | undefined;

export const readTextFile: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

let lifelineVersion: string | undefined;

function ownVersion(): string {
  if (lifelineVersion === undefined) {
    // package.json is three levels up from both src/agent/collectors and dist/agent/collectors.
    const text = readTextFile(new URL('../../../package.json', import.meta.url).pathname);
    try {
      const { version } = JSON.parse(text ?? '{}') as { version?: unknown };
      lifelineVersion = typeof version === 'string' ? version : 'unknown';
    } catch {
      lifelineVersion = 'unknown';
    }
  }
  return lifelineVersion;
}

/** PRETTY_NAME of /etc/os-release, e.g. "Ubuntu 24.04.1 LTS"; the platform name without it. */
export function osName(osRelease: string | undefined): string {
  const match = /^PRETTY_NAME=("?)(.*)\1\s*$/m.exec(osRelease ?? '');
  return match?.[2] || process.platform;
}

/** DMI fields are often readable by root only, and absent in containers: each is "when known". */
function dmi(read: ReadText, field: string): string | undefined {
  const value = read(`/sys/class/dmi/id/${field}`)?.trim();
  return value && !/^(None|Not Specified|To be filled by O\.E\.M\.|Default string|0+)$/i.test(value)
    ? value.slice(0, 64)
    : undefined;
}

export function collectAppliance(read: ReadText = readTextFile): ApplianceInventory {
  const processors = cpus();
  const serial = dmi(read, 'product_serial');
  const model = dmi(read, 'product_name');
  const firmware = dmi(read, 'bios_version');
  return {
    hostName: hostname().slice(0, 255),
    os: osName(read('/etc/os-release')).slice(0, 255),
    kernel: `${release()} ${osVersion()}`.slice(0, 255),
    cpu: {
      model: (processors[0]?.model ?? 'unknown').trim().slice(0, 255),
      count: Math.max(1, processors.length),
    },
    memoryBytes: totalmem(),
    lifelineVersion: ownVersion(),
    ...(serial ? { serial } : {}),
    ...(model ? { model } : {}),
    ...(firmware ? { firmware } : {}),
  };
}

/** What the appliance software submits: a list, or { systems: [...] } (the form of a --file). */
export const systemsListSchema = z.array(managedSystemInventorySchema).max(500);
export const submittedSystemsSchema = z.union([
  systemsListSchema,
  z.object({ systems: systemsListSchema }).strict(),
]);

/**
 * Systems from agent.yaml overlaid with the submitted ones: a submitted system replaces the fields
 * it names of the configured system with the same serial. Sorted by serial, so the digest does not
 * depend on the order they came in.
 */
export function mergeSystems(
  configured: readonly ManagedSystemInventory[],
  submitted: readonly ManagedSystemInventory[],
): ManagedSystemInventory[] {
  const bySerial = new Map<string, ManagedSystemInventory>();
  for (const system of [...configured, ...submitted])
    bySerial.set(system.serial, { ...bySerial.get(system.serial), ...system });
  return [...bySerial.values()].sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0));
}

export interface InventorySource {
  clock: Clock;
  appliance: () => ApplianceInventory;
  configured: readonly ManagedSystemInventory[];
  submitted: () => Promise<ManagedSystemInventory[]>;
}

export async function buildInventory(source: InventorySource): Promise<InventoryPayload> {
  const appliance = source.appliance();
  const systems = mergeSystems(source.configured, await source.submitted());
  return {
    collectedAtMs: source.clock.now(),
    digest: inventoryDigest({ appliance, systems }),
    appliance,
    systems,
  };
}
