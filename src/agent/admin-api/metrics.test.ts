import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../common/clock.js';
import { AgentMetrics } from './metrics.js';

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

function setUp() {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const state: { tunnel: string; sessions: number; outbox: { pending: number; held: number } | undefined } = {
    tunnel: 'connecting',
    sessions: 0,
    outbox: undefined,
  };
  const metrics = new AgentMetrics({
    clock,
    tunnelState: () => state.tunnel,
    activeSessions: () => state.sessions,
    outboxCounts: async () => state.outbox,
  });
  return { clock, state, metrics };
}

test('refusals by kind and code, sessions and upload bytes come from the audit entries', async () => {
  const { metrics } = setUp();
  metrics.observeAudit({ action: 'session.refused', detail: { code: 'POLICY_DENIED' } });
  metrics.observeAudit({ action: 'session.refused', detail: { code: 'TICKET_EXPIRED' } });
  metrics.observeAudit({ action: 'session.refused', detail: { code: 'TICKET_EXPIRED' } });
  metrics.observeAudit({ action: 'session.refused', detail: {} });
  metrics.observeAudit({ action: 'session.start', detail: {} });
  metrics.observeAudit({ action: 'session.end', detail: {} });
  metrics.observeAudit({ action: 'callhome.attachment-sent', detail: { bytes: 4096 } });
  metrics.observeAudit({ action: 'callhome.attachment-sent', detail: { bytes: 'many' } });
  const text = await metrics.render();
  const refusals = (reason: string) =>
    sample(text, 'lifeline_agent_refusals_total', { kind: 'session', reason });
  assert.equal(refusals('POLICY_DENIED'), 1);
  assert.equal(refusals('TICKET_EXPIRED'), 2);
  assert.equal(refusals('OTHER'), 1);
  assert.equal(sample(text, 'lifeline_agent_sessions_total'), 1);
  assert.equal(sample(text, 'lifeline_agent_upload_bytes_total'), 4096);
});

test('a refusal summary counts its refusals by code; bounds count their refusals by limit', async () => {
  const { metrics } = setUp();
  metrics.observeAudit({ action: 'session.refused', detail: { code: 'POLICY_PENDING_APPROVAL' } });
  metrics.observeAudit({
    action: 'session.refused-summary',
    detail: { count: 9, codes: { POLICY_PENDING_APPROVAL: 7, API_LIMIT_REACHED: 2, 'x y': 1, BAD: -3 } },
  });
  metrics.observeLimitRefusal('session-attempts');
  metrics.observeLimitRefusal('session-attempts');
  metrics.observeLimitRefusal('access-requests');
  metrics.observeLimitRefusal('other' as 'access-requests');
  const text = await metrics.render();
  const refusals = (reason: string) =>
    sample(text, 'lifeline_agent_refusals_total', { kind: 'session', reason });
  assert.deepEqual(
    [refusals('POLICY_PENDING_APPROVAL'), refusals('API_LIMIT_REACHED'), refusals('OTHER'), refusals('BAD')],
    [8, 2, 1, undefined],
  );
  const limit = (name: string) => sample(text, 'lifeline_agent_limit_refusals_total', { limit: name });
  assert.deepEqual([limit('session-attempts'), limit('access-requests'), limit('other')], [2, 1, undefined]);
});

test('tunnel, sessions and outbox gauges are read when scraped', async () => {
  const { state, metrics } = setUp();
  let text = await metrics.render();
  assert.equal(sample(text, 'lifeline_agent_tunnel_connected'), 0);
  assert.equal(sample(text, 'lifeline_agent_outbox_depth', { state: 'pending' }), 0);
  Object.assign(state, { tunnel: 'connected', sessions: 2, outbox: { pending: 5, held: 1 } });
  text = await metrics.render();
  assert.equal(sample(text, 'lifeline_agent_tunnel_connected'), 1);
  assert.equal(sample(text, 'lifeline_agent_sessions_active'), 2);
  assert.equal(sample(text, 'lifeline_agent_outbox_depth', { state: 'pending' }), 5);
  assert.equal(sample(text, 'lifeline_agent_outbox_depth', { state: 'held' }), 1);
  assert.ok(sample(text, 'lifeline_agent_process_cpu_user_seconds_total') !== undefined);
});

test('heartbeat age counts from the last heartbeat the hub acknowledged', async () => {
  const { clock, metrics } = setUp();
  clock.advance(30_000);
  // Before the first delivery: the agent's own age.
  assert.equal(sample(await metrics.render(), 'lifeline_agent_heartbeat_age_seconds'), 30);
  metrics.observeDelivery({ type: 'sent', kind: 'heartbeat' });
  clock.advance(12_000);
  // Other reports and failed attempts do not reset it.
  metrics.observeDelivery({ type: 'sent', kind: 'inventory' });
  metrics.observeDelivery({ type: 'failed' });
  metrics.observeDelivery({ type: 'rejected', kind: 'heartbeat' });
  const text = await metrics.render();
  assert.equal(sample(text, 'lifeline_agent_heartbeat_age_seconds'), 12);
  assert.equal(sample(text, 'lifeline_agent_reports_sent_total', { kind: 'heartbeat' }), 1);
  assert.equal(sample(text, 'lifeline_agent_reports_sent_total', { kind: 'inventory' }), 1);
});
