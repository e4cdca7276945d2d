import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { parseConfig } from '../../common/config/index.js';
import { checkReportPayload, type ReportKind } from '../../protocol/index.js';
import { agentConfigSchema } from '../config.js';
import { Collectors, type AcceptReport, type CollectorSettings, type SettingStore } from './collectors.js';
import { HostSampler } from './performance.js';
import { Scheduler, type Timers } from './scheduler.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const minute = 60_000;
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

/** /proc as the two fixture snapshots, alternating: every reading after the first moves on. */
function fakeProc(): (path: string) => string | undefined {
  let stat = 0;
  const pick = (base: string) => fixture(`${base}-${((stat - 1) % 2) + 1}.txt`);
  return (path) => {
    switch (path) {
      case '/proc/stat':
        stat += 1;
        return pick('stat');
      case '/proc/net/dev':
        return pick('net-dev');
      case '/proc/diskstats':
        return pick('diskstats');
      case '/proc/meminfo':
        return fixture('meminfo.txt');
      case '/proc/loadavg':
        return fixture('loadavg.txt');
      default:
        return undefined;
    }
  };
}

class MemorySettings implements SettingStore {
  readonly values = new Map<string, unknown>();
  getSetting(key: string): Promise<unknown> {
    return Promise.resolve(structuredClone(this.values.get(key)));
  }
  setSetting(key: string, value: unknown): Promise<void> {
    this.values.set(key, structuredClone(value));
    return Promise.resolve();
  }
}

const appliance = () => ({
  hostName: 'hmc1',
  os: 'Linux',
  kernel: '6.8',
  cpu: { model: 'Xeon', count: 2 },
  memoryBytes: 2 ** 30,
  lifelineVersion: '0.1.0',
});

describe('collectors', () => {
  let clock: ManualClock;
  let reports: { kind: ReportKind; payload: Record<string, unknown>; orderKey?: string }[];
  let settings: MemorySettings;

  // Every queued payload must pass the schema the outbox and the hub check.
  const accept: AcceptReport = (kind, payload, options) => {
    const invalid = checkReportPayload(kind, payload);
    if (invalid) return Promise.reject(new Error(`invalid ${kind}: ${invalid}`));
    reports.push({
      kind,
      payload: structuredClone(payload),
      ...(options?.orderKey ? { orderKey: options.orderKey } : {}),
    });
    return Promise.resolve({
      id: String(reports.length).padStart(32, '0'),
      sha256: '0'.repeat(64),
      bytes: 1,
    });
  };
  const kinds = () => reports.map((r) => r.kind);
  const make = (overrides: Partial<CollectorSettings> = {}) =>
    new Collectors({
      settings: {
        heartbeatInterval: minute,
        inventoryInterval: 24 * 60 * minute,
        performanceInterval: 10_000,
        performanceSamplesPerReport: 3,
        systems: [{ serial: 'SN-1', type: '9105', model: '42A', firmware: { system: 'FW950.50' } }],
        ...overrides,
      },
      clock,
      logger,
      store: settings,
      accept,
      appliance,
      sampler: new HostSampler({
        samplesPerReport: overrides.performanceSamplesPerReport ?? 3,
        read: fakeProc(),
      }),
      timers: { set: () => undefined, clear: () => undefined },
    });

  beforeEach(() => {
    clock = new ManualClock();
    reports = [];
    settings = new MemorySettings();
  });

  test('at start: a heartbeat and the inventory; then heartbeats on their interval', async () => {
    const collectors = make();
    await collectors.tick();
    assert.deepEqual(kinds(), ['heartbeat', 'inventory']);
    const heartbeat = reports[0]?.payload;
    assert.equal(heartbeat?.intervalMs, minute);
    assert.deepEqual(heartbeat?.systems, [{ serial: 'SN-1', status: 'unknown' }]);
    assert.equal(reports[1]?.orderKey, 'inventory');
    clock.advance(minute);
    await collectors.tick();
    assert.deepEqual(kinds().filter((k) => k === 'heartbeat').length, 2);
    await collectors.close();
  });

  test('host samples from /proc are batched: one performance report per N samples, the rest at close', async () => {
    const collectors = make();
    await collectors.tick(); // the baseline reading: no sample yet
    for (let i = 0; i < 4; i++) {
      clock.advance(10_000);
      await collectors.tick();
    }
    const performance = reports.filter((r) => r.kind === 'performance');
    assert.equal(performance.length, 1);
    const payload = performance[0]?.payload as {
      source: string;
      samples: { spanMs: number; cpu?: { utilizationPct: number } }[];
    };
    assert.equal(payload.source, 'host');
    assert.equal(payload.samples.length, 3);
    assert.equal(payload.samples[0]?.spanMs, 10_000);
    // The fixtures alternate: stat-1 -> stat-2 is 25 % busy; stat-2 -> stat-1 goes backwards and has no cpu figure.
    assert.equal(payload.samples[0]?.cpu?.utilizationPct, 25);
    await collectors.close();
    const last = reports.filter((r) => r.kind === 'performance').at(-1)?.payload as { samples: unknown[] };
    assert.equal(last.samples.length, 1);
  });

  test('inventory: queued again only when it changed (hourly check and on submission), always when asked', async () => {
    const collectors = make();
    await collectors.tick();
    const first = reports.find((r) => r.kind === 'inventory')?.payload;
    clock.advance(60 * minute);
    await collectors.tick();
    assert.equal(kinds().filter((k) => k === 'inventory').length, 1);

    const submitted = await collectors.submitInventory(
      [{ serial: 'SN-2', model: 'E980', parts: [{ name: 'psu', serial: 'P1' }] }],
      {
        send: false,
      },
    );
    assert.ok(submitted.report);
    const second = reports.filter((r) => r.kind === 'inventory').at(-1)?.payload as {
      digest: string;
      systems: { serial: string }[];
    };
    assert.notEqual(second.digest, first?.digest);
    assert.deepEqual(
      second.systems.map((s) => s.serial),
      ['SN-1', 'SN-2'],
    );
    assert.equal(
      (
        await collectors.submitInventory(
          [{ serial: 'SN-2', model: 'E980', parts: [{ name: 'psu', serial: 'P1' }] }],
          { send: false },
        )
      ).report,
      undefined,
    );
    assert.ok((await collectors.sendInventory()).report);
    assert.equal(kinds().filter((k) => k === 'inventory').length, 3);
    await assert.rejects(collectors.submitInventory([{ serial: 'X' }, { serial: 'X' }], { send: true }), {
      code: 'API_BAD_REQUEST',
    });
    await collectors.close();
  });

  test('a submitted system overlays the configured one with the same serial', async () => {
    const collectors = make();
    await collectors.submitInventory([{ serial: 'SN-1', firmware: { system: 'FW950.60' } }], { send: true });
    const inventory = await collectors.inventory();
    assert.deepEqual(inventory.systems, [
      { serial: 'SN-1', type: '9105', model: '42A', firmware: { system: 'FW950.60' } },
    ]);
  });

  test('system status: set for a known system, reported by the next heartbeat, refused for an unknown one', async () => {
    const collectors = make();
    const set = await collectors.setSystemStatus('SN-1', 'critical', 'PSU 2 failed');
    assert.equal(set.sinceMs, clock.now());
    clock.advance(1000);
    // The same status with a new detail keeps the time it began.
    assert.equal(
      (await collectors.setSystemStatus('SN-1', 'critical', 'PSU 2 and 3 failed')).sinceMs,
      clock.now() - 1000,
    );
    await collectors.sendHeartbeat();
    assert.deepEqual((reports[0]?.payload as { systems: unknown }).systems, [
      { serial: 'SN-1', status: 'critical', detail: 'PSU 2 and 3 failed', sinceMs: clock.now() - 1000 },
    ]);
    await assert.rejects(collectors.setSystemStatus('SN-9', 'ok'), { code: 'API_NOT_FOUND' });
  });

  test('a report too large for one transmission is refused with the reason', async () => {
    const collectors = make();
    const parts = Array.from({ length: 1000 }, (_, i) => ({ name: `part ${i} ${'x'.repeat(100)}` }));
    await assert.rejects(collectors.submitInventory([{ serial: 'BIG', parts }], { send: true }), {
      code: 'CALLHOME_REPORT_INVALID',
      message: /at most 63488 fit in one report/,
    });
  });
  test('with a long performance interval the first sample comes 10 s after the baseline, then one per interval', async () => {
    const collectors = make({ performanceInterval: 5 * minute });
    await collectors.tick();
    assert.equal(collectors.recentSamples().length, 0, 'the reading at start is only the baseline');
    clock.advance(10_000);
    await collectors.tick();
    assert.deepEqual(
      collectors.recentSamples().map((sample) => sample.spanMs),
      [10_000],
    );
    clock.advance(5 * minute - 10_000);
    await collectors.tick();
    clock.advance(5 * minute);
    await collectors.tick();
    assert.deepEqual(
      collectors.recentSamples().map((sample) => sample.spanMs),
      [10_000, 5 * minute - 10_000, 5 * minute],
    );
    await collectors.close();
  });
});

describe('scheduler', () => {
  test('a task scheduled once runs at its time and never again', async () => {
    const clock = new ManualClock();
    const scheduler = new Scheduler({
      clock,
      logger,
      timers: { set: () => undefined, clear: () => undefined },
    });
    const runs: string[] = [];
    scheduler.every('every', 60_000, () => Promise.resolve(void runs.push('every')));
    scheduler.once('once', 1000, () => Promise.resolve(void runs.push('once')));
    assert.equal(scheduler.nextDueAtMs, clock.now() + 1000);
    await scheduler.tick();
    assert.deepEqual(runs, []);
    clock.advance(1000);
    await scheduler.tick();
    assert.deepEqual(runs, ['once']);
    assert.equal(scheduler.nextDueAtMs, clock.now() + 59_000);
    clock.advance(10 * 60_000);
    await scheduler.tick();
    assert.deepEqual(runs, ['once', 'every']);
    assert.throws(() => scheduler.once('negative', -1, () => Promise.resolve()), /must not be negative/);
    await scheduler.close();
  });

  test('due tasks run in order; a failing task does not stop the others; a long gap runs a task once', async () => {
    const clock = new ManualClock();
    const armed: number[] = [];
    const timers: Timers = { set: (_run, delayMs) => armed.push(delayMs), clear: () => undefined };
    const scheduler = new Scheduler({ clock, logger, timers });
    const runs: string[] = [];
    scheduler.every('a', 1000, () => Promise.resolve(void runs.push('a')), { atStart: true });
    scheduler.every('b', 5000, () => Promise.reject(new Error('boom')).finally(() => runs.push('b')));
    scheduler.every('c', 5000, () => Promise.resolve(void runs.push('c')));
    scheduler.start();
    assert.deepEqual(armed, [0]);
    await scheduler.tick();
    assert.deepEqual(runs, ['a']);
    assert.equal(armed.at(-1), 1000);
    clock.advance(60_000);
    await scheduler.tick();
    assert.deepEqual(runs, ['a', 'a', 'b', 'c']);
    assert.equal(scheduler.nextDueAtMs, clock.now() + 1000);
    await scheduler.close();
    clock.advance(60_000);
    await scheduler.tick();
    assert.deepEqual(runs, ['a', 'a', 'b', 'c']);
  });
});

test('agent.yaml callhome: defaults, and errors that name the key and the form', () => {
  const minimal = { hub: { endpoints: ['127.0.0.1:8443'] } };
  const config = parseConfig(agentConfigSchema, minimal, 'agent.yaml');
  assert.equal(config.callhome.heartbeatInterval, 24 * 60 * minute);
  assert.equal(config.callhome.inventoryInterval, 24 * 60 * minute);
  assert.equal(config.callhome.performanceInterval, 5 * minute);
  assert.equal(config.callhome.performanceSamplesPerReport, 12);
  assert.deepEqual(config.callhome.systems, []);
  const withSystems = parseConfig(
    agentConfigSchema,
    {
      ...minimal,
      callhome: { heartbeatInterval: '1m', systems: [{ serial: 'SN-1', firmware: { system: 'FW1' } }] },
    },
    'agent.yaml',
  );
  assert.equal(withSystems.callhome.heartbeatInterval, minute);
  assert.equal(withSystems.callhome.maxPending, 10_000);
  const cases: [unknown, RegExp][] = [
    [{ heartbeatInterval: '30s' }, /callhome\.heartbeatInterval: expected a duration .* at least 1m/],
    [{ performanceInterval: '5s' }, /callhome\.performanceInterval: expected a duration .* at least 10s/],
    [{ performanceSamplesPerReport: 0 }, /callhome\.performanceSamplesPerReport/],
    [{ systems: [{ serial: 'SN-1', colour: 'red' }] }, /callhome\.systems\.0\.colour: unknown key/],
  ];
  for (const [callhome, message] of cases)
    assert.throws(() => parseConfig(agentConfigSchema, { ...minimal, callhome }, 'agent.yaml'), {
      code: 'CONFIG_INVALID',
      message,
    });
});
