import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/common/config/index.js';
import { agentConfigSchema } from '../../src/agent/index.js';

const minimal = { hub: { endpoints: ['127.0.0.1:8443'] } };

test('defaults fill everything but the hub endpoints', () => {
  const config = parseConfig(agentConfigSchema, minimal, 'agent.yaml');
  assert.equal(config.admin.listen, '127.0.0.1:8080');
  assert.deepEqual(config.admin.allowedHosts, []);
  assert.equal(config.tunnel.pingInterval, 10_000);
  assert.equal(config.tunnel.reconnectMax, 60_000);
  assert.ok(Object.isFrozen(config.tunnel));
});

test('errors name the key and the expected form', () => {
  const cases: [unknown, RegExp][] = [
    [{}, /hub: /],
    [{ hub: { endpoints: ['nowhere'] } }, /hub\.endpoints\.0: expected HOST:PORT/],
    [
      { ...minimal, tunnel: { reconnectMin: '2m', reconnectMax: '1m' } },
      /tunnel\.reconnectMin: expected reconnectMin to be at most reconnectMax/,
    ],
    [
      { ...minimal, tunnel: { pingInterval: '50s' } },
      /tunnel\.pingInterval: expected a duration .* at most 15s/,
    ],
    [{ ...minimal, tunnel: { pingInterval: 'often' } }, /tunnel\.pingInterval: expected a duration/],
    [{ ...minimal, sessions: { maxConcurrent: 0 } }, /sessions\.maxConcurrent/],
    [{ ...minimal, colour: 'blue' }, /colour: unknown key/],
    [
      { ...minimal, admin: { allowedHosts: ['appliance.example.com', 'evil.example/x'] } },
      /admin\.allowedHosts\.1: .*a host name such as appliance\.example\.com/,
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseConfig(agentConfigSchema, value, 'agent.yaml'), {
      code: 'CONFIG_INVALID',
      message,
    });
  }
});

test('the flood bounds: defaults a real technician never meets, and errors naming the key and form', () => {
  const { sessions, requests } = parseConfig(agentConfigSchema, minimal, 'agent.yaml');
  assert.deepEqual(
    [sessions.maxAttemptsPerTechnician, sessions.refusalsAuditedPerTechnician, sessions.attemptInterval],
    [600, 20, 60_000],
  );
  assert.equal(requests.maxPending, 1000);
  const set = parseConfig(
    agentConfigSchema,
    { ...minimal, sessions: { idleTimeout: '5m', attemptInterval: '10s' }, requests: { maxPending: 5 } },
    'agent.yaml',
  );
  assert.deepEqual(
    [set.sessions.attemptInterval, set.sessions.maxAttemptsPerTechnician, set.requests.maxPending],
    [10_000, 600, 5],
  );
  const cases: [unknown, RegExp][] = [
    [
      { sessions: { maxAttemptsPerTechnician: 0 } },
      /sessions\.maxAttemptsPerTechnician: expected a whole number of session attempts per technician, from 1 to 1000000/,
    ],
    [
      { sessions: { refusalsAuditedPerTechnician: 2.5 } },
      /sessions\.refusalsAuditedPerTechnician: expected a whole number of refusals audited per technician/,
    ],
    [{ sessions: { attemptInterval: '2h' } }, /sessions\.attemptInterval: expected a duration .*at most 1h/],
    [
      { requests: { maxPending: '10' } },
      /requests\.maxPending: expected a whole number of pending access requests/,
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseConfig(agentConfigSchema, { ...minimal, ...(value as object) }, 'agent.yaml'), {
      code: 'CONFIG_INVALID',
      message,
    });
  }
});

test('admin.connections: defaults beside admin.listen, and errors that name the key', () => {
  const config = parseConfig(
    agentConfigSchema,
    { hub: { endpoints: ['hub.example.com:8443'] } },
    'agent.yaml',
  );
  assert.equal(config.admin.listen, '127.0.0.1:8080');
  assert.equal(config.admin.connections.maxUnauthenticatedPerAddress, 64);
  assert.equal(config.admin.connections.maxUnauthenticated, 256);
  assert.equal(config.admin.connections.unauthenticatedTimeout, 10_000);
  assert.throws(
    () =>
      parseConfig(
        agentConfigSchema,
        { hub: { endpoints: ['hub.example.com:8443'] }, admin: { connections: { handshakeTimeout: '10s' } } },
        'agent.yaml',
      ),
    { code: 'CONFIG_INVALID', message: /admin\.connections\.handshakeTimeout: unknown key/ },
  );
});

test('callhome.keepSent 90d and pollInterval 5m by default, at least 1h and 1s', () => {
  const hub = minimal.hub;
  const day = 86_400_000;
  const config = parseConfig(agentConfigSchema, { hub }, 'agent.yaml');
  assert.equal(config.callhome.keepSent, 90 * day);
  assert.equal(config.callhome.pollInterval, 300_000);
  const short = parseConfig(
    agentConfigSchema,
    { hub, callhome: { pollInterval: '2s', keepSent: '30d' } },
    'agent.yaml',
  );
  assert.equal(short.callhome.pollInterval, 2000);
  assert.equal(short.callhome.keepSent, 30 * day);
  assert.throws(() => parseConfig(agentConfigSchema, { hub, callhome: { keepSent: '10m' } }, 'agent.yaml'), {
    message: /callhome\.keepSent: expected a duration .*at least 1h/,
  });
});
