import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { inventoryDigest, type ReportEnvelope, type ReportKind } from '../../protocol/index.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { HubAudit } from '../audit/index.js';
import { isSilent, silentAfterMs, SilenceMonitor } from './station-silence.js';

const minute = 60_000;
const logger = createLogger({ name: 'test', level: 'silent' });

test('silent after two missed heartbeats plus slack: one interval up to 5 minutes', () => {
  assert.equal(silentAfterMs(minute), 3 * minute);
  assert.equal(silentAfterMs(24 * 60 * minute), 48 * 60 * minute + 5 * minute);
  const health = { lastHeartbeatAtMs: 0, heartbeatIntervalMs: minute };
  assert.equal(isSilent(health, 3 * minute), false);
  assert.equal(isSilent(health, 3 * minute + 1), true);
  assert.equal(isSilent(undefined, Number.MAX_SAFE_INTEGER), false);
});

describe('the hub with station heartbeats, inventory and performance', () => {
  let dir: string;
  let store: HubStore;
  let clock: ManualClock;
  let counter = 0;

  const ingest = async (
    stationId: string,
    kind: ReportKind,
    payload: Record<string, unknown>,
    createdAtMs = clock.now(),
  ) => {
    counter += 1;
    const envelope: ReportEnvelope = {
      id: counter.toString(16).padStart(32, '0'),
      kind,
      createdAtMs,
      orderKey: null,
      payload,
    };
    return store.reports.ingest(stationId, envelope, JSON.stringify(envelope), 'h', clock.now());
  };
  const heartbeat = (stationId: string, intervalMs = minute) =>
    ingest(stationId, 'heartbeat', {
      atMs: clock.now(),
      uptimeSeconds: 1,
      intervalMs,
      systems: [{ serial: 'SN-1', status: 'warning', detail: 'fan slow' }],
    });
  const healthOf = async (stationId: string) =>
    (await store.health.listHealth()).find((h) => h.stationId === stationId);
  const actions = async () =>
    (await store.listAudit())
      .filter((e) => e.action.startsWith('station.'))
      .map((e) => `${e.action} ${e.stationId}`);
  const addStation = (id: string, revoked = false) =>
    store.addStation({
      id,
      name: id,
      enrolledAtMs: clock.now(),
      certNotAfterMs: clock.now() + 30 * 24 * 60 * minute,
      lastSeenAtMs: null,
      connectedSinceMs: null,
      revokedAtMs: revoked ? clock.now() : null,
    });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeline-silence-'));
    store = await openSqliteHubStore(join(dir, 'hub.db'));
    clock = new ManualClock();
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a heartbeat records its time, interval and system statuses; a duplicate changes nothing', async () => {
    await addStation('ST-A');
    await heartbeat('ST-A');
    const health = await healthOf('ST-A');
    assert.equal(health?.lastHeartbeatAtMs, clock.now());
    assert.equal(health?.heartbeatIntervalMs, minute);
    assert.deepEqual(health?.systems, [{ serial: 'SN-1', status: 'warning', detail: 'fan slow' }]);
    const again = await store.reports.ingest(
      'ST-A',
      {
        id: counter.toString(16).padStart(32, '0'),
        kind: 'heartbeat',
        createdAtMs: 0,
        orderKey: null,
        payload: {},
      },
      '{}',
      'h',
      clock.now() + 1000,
    );
    assert.equal(again.duplicate, true);
    assert.equal((await healthOf('ST-A'))?.lastHeartbeatAtMs, clock.now());
  });

  test('silent once when heartbeats stop, heard once when they come back; revoked and quiet stations never', async () => {
    await addStation('ST-A');
    await addStation('ST-B', true);
    await addStation('ST-C');
    await heartbeat('ST-A');
    await heartbeat('ST-B');
    const audit = new HubAudit(store, clock, logger);
    const monitor = new SilenceMonitor({ store, audit, clock, logger, nodeId: 'node-test' });

    clock.advance(3 * minute);
    await monitor.check();
    assert.deepEqual(await actions(), []);

    clock.advance(1);
    await monitor.check();
    await monitor.check();
    assert.deepEqual(await actions(), ['station.silent ST-A']);
    assert.equal((await healthOf('ST-A'))?.silentSinceMs, clock.now());

    clock.advance(10 * minute);
    await heartbeat('ST-A');
    await monitor.check();
    await monitor.check();
    assert.deepEqual(await actions(), ['station.silent ST-A', 'station.heard ST-A']);
    assert.equal((await healthOf('ST-A'))?.silentSinceMs, null);
    await monitor.close();
  });

  test('a heartbeat arriving between the read and the mark keeps the station heard', async () => {
    await addStation('ST-A');
    await heartbeat('ST-A');
    const seen = await healthOf('ST-A');
    clock.advance(5 * minute);
    await heartbeat('ST-A');
    assert.equal(await store.health.markSilent('ST-A', seen?.lastHeartbeatAtMs ?? 0, clock.now()), false);
    assert.equal((await healthOf('ST-A'))?.silentSinceMs, null);
  });

  test('the latest inventory is the newest made, whatever the order it arrived in', async () => {
    const appliance = {
      hostName: 'h',
      os: 'Linux',
      kernel: '6',
      cpu: { model: 'x', count: 1 },
      memoryBytes: 1,
      lifelineVersion: '0.1.0',
    };
    const inventory = (serial: string) => {
      const systems = [{ serial }];
      return {
        collectedAtMs: clock.now(),
        digest: inventoryDigest({ appliance, systems }),
        appliance,
        systems,
      };
    };
    assert.equal(await store.health.latestInventory('ST-A'), undefined);
    await ingest('ST-A', 'inventory', inventory('NEW'), clock.now() + 10);
    await ingest('ST-A', 'inventory', inventory('OLD'), clock.now());
    await ingest('ST-B', 'inventory', inventory('OTHER'), clock.now() + 20);
    const latest = await store.health.latestInventory('ST-A');
    assert.deepEqual(latest?.inventory.systems, [{ serial: 'NEW' }]);
    assert.equal(latest?.createdAtMs, clock.now() + 10);
  });

  test('performance samples by time window and source, oldest first', async () => {
    const t = clock.now();
    const sample = (atMs: number, pct: number) => ({ atMs, spanMs: minute, cpu: { utilizationPct: pct } });
    await ingest(
      'ST-A',
      'performance',
      { source: 'host', samples: [sample(t - 2 * minute, 1), sample(t - minute, 2)] },
      t,
    );
    await ingest('ST-A', 'performance', { source: 'SN-1', samples: [sample(t + minute, 3)] }, t + minute);
    await ingest(
      'ST-A',
      'performance',
      { source: 'host', samples: [sample(t + 2 * minute, 4)] },
      t + 2 * minute,
    );
    await ingest('ST-B', 'performance', { source: 'host', samples: [sample(t, 9)] }, t);
    const pcts = async (since: number, until: number, source?: string) =>
      (await store.health.performanceSamples('ST-A', since, until, source ? { source } : {})).map(
        (s) => s.sample.cpu?.utilizationPct,
      );
    assert.deepEqual(await pcts(t - 10 * minute, t + 10 * minute), [1, 2, 3, 4]);
    assert.deepEqual(await pcts(t - minute, t + minute), [2, 3]);
    assert.deepEqual(await pcts(t - 10 * minute, t + 10 * minute, 'host'), [1, 2, 4]);
    assert.deepEqual(await pcts(t + 3 * minute, t + 10 * minute), []);
  });
});
