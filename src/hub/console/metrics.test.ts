import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { ManualClock } from '../../common/clock.js';
import { installApiConventions } from '../../common/net/index.js';
import { createLogger } from '../../common/logger.js';
import { LifelineError } from '../../common/errors.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { HubAudit } from '../audit/index.js';
import { ensureScrapeToken, HubMetrics, registerHubOpsRoutes, withinTimeout } from './metrics.js';

const logger = createLogger({ name: 'test', level: 'silent' });

/** The value of one sample in the text exposition, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort();
  for (const line of text.split('\n')) {
    const match = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter(Boolean).sort();
    if (have.join(',') === wanted.join(',')) return Number(match[3]);
  }
  return undefined;
}

describe('hub metrics', () => {
  let dir: string;
  let store: HubStore;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const state = { tunnels: 0, sessions: 0, admitted: 0, refused: 0 };
  let metrics: HubMetrics;
  let audit: HubAudit;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeline-hub-metrics-'));
    store = await openSqliteHubStore(join(dir, 'hub.db'));
    audit = new HubAudit(store, clock, logger);
    metrics = new HubMetrics({
      clock,
      tunnels: () => state.tunnels,
      activeSessions: () => state.sessions,
      admissionStats: () => ({ admitted: state.admitted, refused: state.refused }),
      stationHealth: async () => [
        { stationId: 'ST-AAAA-BBBB-C', lastHeartbeatAtMs: clock.now() - 90_000, silentSinceMs: null },
        { stationId: 'ST-DDDD-EEEE-F', lastHeartbeatAtMs: clock.now() - 3_600_000, silentSinceMs: 1 },
      ],
    });
    audit.onRecord((action, _stationId, detail) => metrics.observeAudit(action, detail));
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('refusals are counted by kind and code from the audit stream, sessions on start', async () => {
    await audit.record('user:ann', 'session.refused', null, { code: 'POLICY_DENIED' });
    await audit.record('user:ann', 'session.refused', 'ST-AAAA-BBBB-C', { code: 'POLICY_DENIED' });
    await audit.record('station', 'tunnel.refused', null, { code: 'TUNNEL_CERT_REJECTED' });
    await audit.record('user:bob', 'login.refused', null, { code: 'AUTH_INVALID' });
    // A code that is not an error code does not become a label value.
    await audit.record('user:bob', 'login.refused', null, { code: 'drop table; "x"' });
    audit.entry('user:ann', 'session.start', 'ST-AAAA-BBBB-C', {});
    await audit.record('station:ST-AAAA-BBBB-C', 'attachment.received', 'ST-AAAA-BBBB-C', { bytes: 1234 });
    await audit.record('station:ST-AAAA-BBBB-C', 'tunnel.connected', 'ST-AAAA-BBBB-C', {});
    const text = await metrics.render();
    const refusals = (kind: string, reason: string) =>
      sample(text, 'lifeline_hub_refusals_total', { kind, reason });
    assert.equal(refusals('session', 'POLICY_DENIED'), 2);
    assert.equal(refusals('tunnel', 'TUNNEL_CERT_REJECTED'), 1);
    assert.equal(refusals('login', 'AUTH_INVALID'), 1);
    assert.equal(refusals('login', 'OTHER'), 1);
    assert.equal(sample(text, 'lifeline_hub_sessions_total'), 1);
    assert.equal(sample(text, 'lifeline_hub_upload_bytes_total'), 1234);
    assert.equal(sample(text, 'lifeline_hub_tunnel_connections_total'), 1);
  });

  test('stored chunks are counted by transport, and only the two transports are labels', async () => {
    metrics.observeChunkStored('channel');
    metrics.observeChunkStored('channel');
    metrics.observeChunkStored('call-home');
    metrics.observeChunkStored('something else');
    const text = await metrics.render();
    assert.equal(sample(text, 'lifeline_hub_upload_chunks_total', { via: 'channel' }), 2);
    assert.equal(sample(text, 'lifeline_hub_upload_chunks_total', { via: 'call-home' }), 2);
  });

  test('refusals of a used-up share or login limit are counted by limit, from a closed set', async () => {
    metrics.observeLimitRefusal('feed-streams');
    metrics.observeLimitRefusal('feed-streams');
    metrics.observeLimitRefusal('upload-bytes');
    // Not a limit: never a label value.
    metrics.observeLimitRefusal('made-up' as 'uploads');
    await audit.record('user:ann', 'login.refused', null, { code: 'AUTH_RATE_LIMITED', scope: 'pair' });
    await audit.record('user:ann', 'login.refused', null, { code: 'AUTH_RATE_LIMITED', scope: 'user' });
    await audit.record('user:ann', 'login.refused', null, { code: 'AUTH_RATE_LIMITED', scope: 'toString' });
    const text = await metrics.render();
    const limit = (name: string) => sample(text, 'lifeline_hub_limit_refusals_total', { limit: name });
    assert.deepEqual(
      [limit('feed-streams'), limit('upload-bytes'), limit('login-backoff'), limit('login-user')],
      [2, 1, 1, 1],
    );
    assert.equal(limit('made-up'), undefined);
    assert.equal(limit('login-address'), undefined);
    assert.equal(text.match(/^lifeline_hub_limit_refusals_total\{/gm)?.length, 4);
  });

  test('gauges and the admission counters are read when scraped', async () => {
    Object.assign(state, { tunnels: 3, sessions: 2, admitted: 40, refused: 7 });
    const text = await metrics.render();
    assert.equal(sample(text, 'lifeline_hub_tunnels_connected'), 3);
    assert.equal(sample(text, 'lifeline_hub_sessions_active'), 2);
    assert.equal(sample(text, 'lifeline_hub_admission_rejections_total'), 7);
    assert.equal(sample(text, 'lifeline_hub_admissions_total'), 40);
    assert.equal(sample(text, 'lifeline_hub_heartbeat_age_seconds', { station: 'ST-AAAA-BBBB-C' }), 90);
    assert.equal(sample(text, 'lifeline_hub_heartbeat_age_seconds', { station: 'ST-DDDD-EEEE-F' }), 3600);
    assert.equal(sample(text, 'lifeline_hub_stations_silent'), 1);
    state.refused = 9;
    assert.equal(sample(await metrics.render(), 'lifeline_hub_admission_rejections_total'), 9);
    // Process metrics carry the hub's prefix, in this hub's own registry.
    assert.ok(sample(text, 'lifeline_hub_process_cpu_user_seconds_total') !== undefined);
  });

  test('a failing observer does not stop the audit record', async () => {
    audit.onRecord(() => {
      throw new Error('observer bug');
    });
    await audit.record('hub', 'test.entry', null, {});
    const entries = await store.listAudit();
    assert.ok(entries.some((e) => e.action === 'test.entry'));
  });
});

describe('the hub operations routes', () => {
  const token = 'a-scrape-token-of-enough-length';
  let healthy: () => Promise<boolean> = async () => true;
  let draining = false;
  const app = Fastify();
  let base = '';

  before(async () => {
    installApiConventions(app, logger);
    const metrics = new HubMetrics({
      clock: new ManualClock(),
      tunnels: () => 5,
      activeSessions: () => 0,
      stationHealth: async () => [],
    });
    registerHubOpsRoutes(app, {
      metrics,
      scrapeToken: token,
      healthy: () => healthy(),
      draining: () => draining,
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(() => app.close());

  test('GET /health answers without a credential and tells nothing but up or down', async () => {
    healthy = async () => true;
    const up = await fetch(`${base}/health`);
    assert.equal(up.status, 200);
    assert.deepEqual(await up.json(), { status: 'ok' });
    healthy = () => Promise.reject(new Error('database is locked'));
    const down = await fetch(`${base}/health`);
    assert.equal(down.status, 503);
    assert.deepEqual(await down.json(), { status: 'unavailable' });
  });

  test('GET /health answers 503 draining while the node drains, so a load balancer sends no new work', async () => {
    healthy = async () => true;
    draining = true;
    try {
      const answer = await fetch(`${base}/health`);
      assert.equal(answer.status, 503);
      assert.deepEqual(await answer.json(), { status: 'draining' });
    } finally {
      draining = false;
    }
    assert.equal((await fetch(`${base}/health`)).status, 200);
  });

  test('GET /metrics needs the scrape token', async () => {
    const none = await fetch(`${base}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { code: string }).code, 'AUTH_REQUIRED');
    const wrong = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}x` } });
    assert.equal(wrong.status, 401);
    const basic = await fetch(`${base}/metrics`, { headers: { authorization: `Basic ${token}` } });
    assert.equal(basic.status, 401);
    const right = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(right.status, 200);
    assert.match(right.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(await right.text(), 'lifeline_hub_tunnels_connected'), 5);
  });

  test('a health check that hangs counts as down', async () => {
    assert.equal(await withinTimeout(new Promise<boolean>(() => undefined), 20), false);
    assert.equal(await withinTimeout(Promise.resolve(true), 1000), true);
  });
});

test('the scrape token file is made once, private, and must be long enough', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-scrape-token-'));
  try {
    const path = join(dir, 'metrics-token');
    const first = ensureScrapeToken(path);
    assert.ok(first.length >= 32);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(ensureScrapeToken(path), first);
    writeFileSync(path, 'short\n');
    assert.throws(
      () => ensureScrapeToken(path),
      (err: unknown) => err instanceof LifelineError && err.code === 'CONFIG_INVALID',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
