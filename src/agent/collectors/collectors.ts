// The agent's call-home collectors: heartbeat, inventory and host performance on their schedules,
// and what the appliance software hands in through the admin API (its systems' inventory, status
// and performance). Every report goes through the outbox, so it is durable once accepted.

import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type {
  ApplianceInventory,
  InventoryPayload,
  ManagedSystemInventory,
  PerformancePayload,
  PerformanceSample,
  ReportKind,
  SystemStatus,
} from '../../protocol/index.js';
import { managedSystemInventorySchema } from '../../protocol/index.js';
import {
  applyStatus,
  buildHeartbeat,
  hostUptimeSeconds,
  storedStatusesSchema,
  type StoredStatuses,
} from './heartbeat.js';
import { buildInventory, collectAppliance, mergeSystems } from './inventory.js';
import { HostSampler } from './performance.js';
import { Scheduler, type Timers } from './scheduler.js';

export interface CollectorSettings {
  heartbeatInterval: number;
  inventoryInterval: number;
  performanceInterval: number;
  performanceSamplesPerReport: number;
  systems: readonly ManagedSystemInventory[];
}

export interface AcceptedReport {
  id: string;
  sha256: string;
  bytes: number;
}

export type AcceptReport = (
  kind: ReportKind,
  payload: Record<string, unknown>,
  options?: { orderKey?: string },
) => Promise<AcceptedReport>;

/** Where the submitted systems and their statuses are kept across restarts (agent.db settings). */
export interface SettingStore {
  getSetting(key: string): Promise<unknown>;
  setSetting(key: string, value: unknown): Promise<void>;
}

export interface SystemView {
  serial: string;
  type?: string | undefined;
  model?: string | undefined;
  status: SystemStatus;
  detail?: string | undefined;
  sinceMs?: number | undefined;
}

const keys = { submitted: 'callhome_submitted_systems', statuses: 'callhome_system_status' } as const;

/** The hub's call-home body limit is 64 KiB; the envelope needs a little of it. */
const maxPayloadBytes = 62 * 1024;

/** How often the inventory is compared with the last one queued. */
const inventoryCheckMs = 3_600_000;

/** The host's first performance sample comes this long after the baseline reading at start. */
const firstSampleAfterMs = 10_000;

export class Collectors {
  readonly #settings: CollectorSettings;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #store: SettingStore;
  readonly #accept: AcceptReport;
  readonly #appliance: () => ApplianceInventory;
  readonly #scheduler: Scheduler;
  readonly #sampler: HostSampler;
  #lastDigest: string | undefined;
  #closed = false;

  constructor(options: {
    settings: CollectorSettings;
    clock: Clock;
    logger: Logger;
    store: SettingStore;
    accept: AcceptReport;
    appliance?: () => ApplianceInventory;
    sampler?: HostSampler;
    timers?: Timers;
  }) {
    this.#settings = options.settings;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#store = options.store;
    this.#accept = options.accept;
    this.#appliance = options.appliance ?? (() => collectAppliance());
    this.#sampler =
      options.sampler ?? new HostSampler({ samplesPerReport: options.settings.performanceSamplesPerReport });
    this.#scheduler = new Scheduler({
      clock: options.clock,
      logger: options.logger,
      ...(options.timers ? { timers: options.timers } : {}),
    });
    const s = this.#settings;
    this.#scheduler.every(
      'heartbeat',
      s.heartbeatInterval,
      () => this.sendHeartbeat().then(() => undefined),
      {
        atStart: true,
      },
    );
    this.#scheduler.every(
      'inventory',
      s.inventoryInterval,
      () => this.sendInventory().then(() => undefined),
      {
        atStart: true,
      },
    );
    this.#scheduler.every('inventory-change', Math.min(inventoryCheckMs, s.inventoryInterval), () =>
      this.sendInventoryIfChanged().then(() => undefined),
    );
    this.#scheduler.every('performance', s.performanceInterval, () => this.#samplePerformance(), {
      atStart: true,
    });
    // The reading at start is only a baseline (a rate needs two): one sample soon after it gives
    // the Diagnostics chart its first point without waiting a whole interval.
    if (s.performanceInterval > firstSampleAfterMs)
      this.#scheduler.once('performance-first', firstSampleAfterMs, () => this.#samplePerformance());
  }

  /** Starts the schedule: heartbeat and inventory now, the rest at their intervals. */
  start(): void {
    this.#scheduler.start();
    void this.#scheduler.tick();
  }

  /** For tests with a manual clock: runs whatever is due. */
  tick(): Promise<void> {
    return this.#scheduler.tick();
  }

  /** Stops the schedule and queues the samples taken so far. Call before the outbox closes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#scheduler.close();
    const rest = this.#sampler.takeBatch();
    if (rest)
      await this.#send('performance', rest).catch((err: unknown) =>
        this.#logger.warn({ err }, 'performance samples not queued'),
      );
  }

  async sendHeartbeat(): Promise<{ report: AcceptedReport; payload: Record<string, unknown> }> {
    const payload = buildHeartbeat({
      nowMs: this.#clock.now(),
      uptimeSeconds: hostUptimeSeconds(),
      intervalMs: this.#settings.heartbeatInterval,
      serials: (await this.#systems()).map((s) => s.serial),
      statuses: await this.#statuses(),
    });
    return { report: await this.#send('heartbeat', payload), payload };
  }

  /** Queues the inventory whatever it holds. */
  async sendInventory(): Promise<{ report: AcceptedReport; inventory: InventoryPayload }> {
    const inventory = await this.inventory();
    const report = await this.#send('inventory', inventory, 'inventory');
    this.#lastDigest = inventory.digest;
    return { report, inventory };
  }

  /** Queues the inventory only when it differs from the last one queued. */
  async sendInventoryIfChanged(): Promise<{ report?: AcceptedReport; inventory: InventoryPayload }> {
    const inventory = await this.inventory();
    if (inventory.digest === this.#lastDigest) return { inventory };
    const report = await this.#send('inventory', inventory, 'inventory');
    this.#lastDigest = inventory.digest;
    this.#logger.info({ digest: inventory.digest, reportId: report.id }, 'inventory changed: queued');
    return { report, inventory };
  }

  /** The appliance software's inventory of its systems: replaces what it submitted before. */
  async submitInventory(
    systems: ManagedSystemInventory[],
    options: { send: boolean },
  ): Promise<{ report?: AcceptedReport; inventory: InventoryPayload }> {
    const serials = new Set(systems.map((s) => s.serial));
    if (serials.size !== systems.length)
      throw new LifelineError('API_BAD_REQUEST', 'systems: each serial may appear once');
    await this.#store.setSetting(keys.submitted, systems);
    return options.send ? this.sendInventory() : this.sendInventoryIfChanged();
  }

  async systems(): Promise<SystemView[]> {
    const statuses = await this.#statuses();
    return (await this.#systems()).map((s) => {
      const known = statuses[s.serial];
      return {
        serial: s.serial,
        ...(s.type ? { type: s.type } : {}),
        ...(s.model ? { model: s.model } : {}),
        status: known?.status ?? 'unknown',
        ...(known?.detail ? { detail: known.detail } : {}),
        ...(known ? { sinceMs: known.sinceMs } : {}),
      };
    });
  }

  async setSystemStatus(serial: string, status: SystemStatus, detail?: string): Promise<SystemView> {
    if (!(await this.#systems()).some((s) => s.serial === serial))
      throw new LifelineError(
        'API_NOT_FOUND',
        `no managed system ${serial}: list it under callhome.systems in agent.yaml or submit it with POST /v1/inventory`,
      );
    const { statuses, changed } = applyStatus(
      await this.#statuses(),
      serial,
      status,
      detail,
      this.#clock.now(),
    );
    await this.#store.setSetting(keys.statuses, statuses);
    if (changed) this.#logger.info({ serial, status }, 'managed system status changed');
    const view = (await this.systems()).find((s) => s.serial === serial);
    if (!view) throw new LifelineError('INTERNAL', `system ${serial} vanished`);
    return view;
  }

  /** Samples of a managed system (or the host, measured by the appliance software). */
  submitPerformance(payload: PerformancePayload): Promise<AcceptedReport> {
    return this.#send('performance', payload);
  }

  /** The host's latest performance samples (kept in memory, also those already sent). */
  recentSamples(): readonly PerformanceSample[] {
    return this.#sampler.recent();
  }

  async #samplePerformance(): Promise<void> {
    this.#sampler.sample(this.#clock.now());
    const batch = this.#sampler.takeFullBatch();
    if (batch) await this.#send('performance', batch);
  }

  /** The inventory as it would be sent now. */
  inventory(): Promise<InventoryPayload> {
    return buildInventory({
      clock: this.#clock,
      appliance: this.#appliance,
      configured: this.#settings.systems,
      submitted: () => this.#submitted(),
    });
  }

  async #submitted(): Promise<ManagedSystemInventory[]> {
    const parsed = managedSystemInventorySchema
      .array()
      .safeParse(await this.#store.getSetting(keys.submitted));
    return parsed.success ? parsed.data : [];
  }

  async #systems(): Promise<ManagedSystemInventory[]> {
    return mergeSystems(this.#settings.systems, await this.#submitted());
  }

  async #statuses(): Promise<StoredStatuses> {
    const parsed = storedStatusesSchema.safeParse(await this.#store.getSetting(keys.statuses));
    return parsed.success ? parsed.data : {};
  }

  async #send(kind: ReportKind, payload: object, orderKey?: string): Promise<AcceptedReport> {
    const bytes = Buffer.byteLength(JSON.stringify(payload));
    if (bytes > maxPayloadBytes)
      throw new LifelineError(
        'CALLHOME_REPORT_INVALID',
        `the ${kind} report would be ${bytes} bytes; at most ${maxPayloadBytes} fit in one report`,
      );
    return this.#accept(kind, payload as Record<string, unknown>, orderKey ? { orderKey } : {});
  }
}

/** The collectors on the running agent: heartbeat and inventory now, the rest on their schedules. */
export function startCollectors(options: ConstructorParameters<typeof Collectors>[0]): Collectors {
  const collectors = new Collectors(options);
  collectors.start();
  return collectors;
}
