import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/common/config/index.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobsDirOf } from '../../src/hub/attachments/index.js';
import { hubConfigSchema } from '../../src/hub/index.js';
import { storePassword, storePasswordEnv } from '../../src/hub/store/index.js';

const minimal = { stationAddress: 'hub.example.com:8443', apiUrl: 'https://hub.example.com:8444' };

test('defaults', () => {
  const config = parseConfig(hubConfigSchema, minimal, 'hub.yaml');
  assert.equal(config.listen, '127.0.0.1:8443');
  assert.equal(config.apiListen, '127.0.0.1:8444');
  assert.equal(config.authorizedGroup, 'technicians');
  assert.equal(config.ticketTtl, 30_000);
  assert.equal(config.enrollmentTokenTtl, 15 * 60_000);
});

test('a ticket lifetime must be between 1 s and 60 s', () => {
  for (const ticketTtl of ['500ms', '61s', '2m']) {
    assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, ticketTtl }, 'hub.yaml'), {
      code: 'CONFIG_INVALID',
      message: /ticketTtl: expected a duration .*at least 1s and at most 1m/,
    });
  }
  assert.equal(parseConfig(hubConfigSchema, { ...minimal, ticketTtl: '60s' }, 'hub.yaml').ticketTtl, 60_000);
});

test('errors name the key', () => {
  assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, apiUrl: 'http://hub' }, 'hub.yaml'), {
    message: /apiUrl: expected an https:\/\/ URL/,
  });
  assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, listen: '8443' }, 'hub.yaml'), {
    message: /listen: expected HOST:PORT/,
  });
  assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, stations: 1 }, 'hub.yaml'), {
    message: /stations: unknown key/,
  });
});

test('shares: defaults a real user never meets, and errors that name the key and the expected form', () => {
  const { shares } = parseConfig(hubConfigSchema, minimal, 'hub.yaml');
  assert.deepEqual(shares, {
    perUser: {
      feedStreams: 8,
      downloadLinks: 100,
      sessionRequests: 300,
      sessionRequestWindow: 60_000,
      sessionOpens: 64,
    },
    perStation: { uploads: 8, uploadPendingGb: 256 },
  });
  const set = parseConfig(
    hubConfigSchema,
    { ...minimal, shares: { perUser: { feedStreams: 2, sessionRequestWindow: '10s' } } },
    'hub.yaml',
  ).shares;
  assert.deepEqual(
    [set.perUser.feedStreams, set.perUser.sessionRequestWindow, set.perUser.downloadLinks],
    [2, 10_000, 100],
  );
  const cases: [unknown, RegExp][] = [
    [
      { perUser: { feedStreams: 0 } },
      /shares\.perUser\.feedStreams: expected a whole number of live pages per user, from 1 to 64/,
    ],
    [{ perUser: { feedStreams: 65 } }, /shares\.perUser\.feedStreams: expected a whole number/],
    [
      { perUser: { downloadLinks: 1.5 } },
      /shares\.perUser\.downloadLinks: expected a whole number of download links per user/,
    ],
    [
      { perUser: { sessionRequests: '300' } },
      /shares\.perUser\.sessionRequests: expected a whole number of session requests per user/,
    ],
    [
      { perUser: { sessionRequestWindow: 60 } },
      /shares\.perUser\.sessionRequestWindow: Invalid input: expected string/,
    ],
    [
      { perUser: { sessionOpens: -1 } },
      /shares\.perUser\.sessionOpens: expected a whole number of session requests in flight/,
    ],
    [
      { perStation: { uploads: 0 } },
      /shares\.perStation\.uploads: expected a whole number of unfinished uploads per station/,
    ],
    [
      { perStation: { uploadPendingGb: 10 } },
      /shares\.perStation\.uploadPendingGb: expected a whole number of GiB, from 64 to 1000000/,
    ],
    [{ perUser: { feeds: 3 } }, /shares\.perUser\.feeds: unknown key/],
    [{ perTechnician: {} }, /shares\.perTechnician: unknown key/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, shares: value }, 'hub.yaml'), {
      code: 'CONFIG_INVALID',
      message,
    });
  }
});

test('login: the keys of the old limiter still load, and the back-off keys are checked', () => {
  const { login } = parseConfig(
    hubConfigSchema,
    { ...minimal, login: { maxFailuresPerUser: 5, maxFailuresPerAddress: 20, window: '10m' } },
    'hub.yaml',
  );
  assert.deepEqual(login, {
    maxFailuresPerUser: 5,
    maxFailuresPerAddress: 20,
    window: 600_000,
    backoff: 1000,
    maxBackoff: 900_000,
  });
  assert.throws(
    () =>
      parseConfig(hubConfigSchema, { ...minimal, login: { backoff: '2h', maxBackoff: '1h' } }, 'hub.yaml'),
    { message: /login\.backoff: expected a duration such as 30s, 15m or 8h at most 1h/ },
  );
  assert.throws(
    () =>
      parseConfig(hubConfigSchema, { ...minimal, login: { backoff: '1m', maxBackoff: '10s' } }, 'hub.yaml'),
    { message: /login\.backoff: expected backoff to be at most maxBackoff/ },
  );
});

test('connections: defaults, and errors that name the key and the expected form', () => {
  const { connections } = parseConfig(hubConfigSchema, minimal, 'hub.yaml');
  assert.deepEqual(connections, {
    handshakeTimeout: 10_000,
    unauthenticatedTimeout: 10_000,
    headersTimeout: 10_000,
    idleTimeout: 60_000,
    minBodyBytesPerSecond: 1024,
    bodyRateWindow: 10_000,
    maxUnauthenticatedPerAddress: 128,
    maxUnauthenticated: 1024,
  });
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ handshakeTimeout: '5m' }, /connections\.handshakeTimeout: expected a duration .*at most 2m/],
    [{ idleTimeout: 'soon' }, /connections\.idleTimeout: expected a duration such as 30s/],
    [
      { minBodyBytesPerSecond: 0.5 },
      /connections\.minBodyBytesPerSecond: expected a whole number of bytes a second, from 1 to 1000000000/,
    ],
    [
      { maxUnauthenticatedPerAddress: 2000 },
      /connections\.maxUnauthenticatedPerAddress: expected maxUnauthenticatedPerAddress to be at most maxUnauthenticated/,
    ],
    [{ maxIdle: 1 }, /connections\.maxIdle: unknown key/],
  ];
  for (const [connections, message] of refused)
    assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, connections }, 'hub.yaml'), {
      code: 'CONFIG_INVALID',
      message,
    });
});

test('store: SQLite by default; PostgreSQL needs a URL; errors name the key and never echo a password', () => {
  assert.deepEqual(parseConfig(hubConfigSchema, minimal, 'hub.yaml').store, {
    kind: 'sqlite',
    minFreeMb: 64,
    poolSize: 10,
  });
  const postgres = parseConfig(
    hubConfigSchema,
    { ...minimal, store: { kind: 'postgres', url: 'postgres://hub@db.example:5432/lifeline', poolSize: 20 } },
    'hub.yaml',
  ).store;
  assert.deepEqual(
    [postgres.kind, postgres.url, postgres.poolSize],
    ['postgres', 'postgres://hub@db.example:5432/lifeline', 20],
  );
  const cases: [unknown, RegExp][] = [
    [{ kind: 'postgres' }, /store\.url: kind postgres needs url: postgres:\/\/USER@HOST:PORT\/DATABASE/],
    [{ kind: 'mysql' }, /store\.kind: expected sqlite or postgres/],
    [
      { kind: 'postgres', url: 'mysql://hub:pw-in-url@db/x' },
      /store\.url: expected postgres:\/\/USER@HOST:PORT\/DATABASE/,
    ],
    [{ url: 'postgres://hub@db/x' }, /store\.url: only for kind postgres/],
    [{ kind: 'postgres', url: 'postgres://hub@db/x', poolSize: 0 }, /store\.poolSize/],
    [{ kind: 'postgres', url: 'postgres://hub@db/x', password: 'x' }, /store\.password: unknown key/],
  ];
  for (const [store, message] of cases) {
    assert.throws(
      () => parseConfig(hubConfigSchema, { ...minimal, store }, 'hub.yaml'),
      (err: Error) => {
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /pw-in-url/);
        return true;
      },
    );
  }
});

test('store password: from store.passwordFile, else the environment, else none (the URL keeps its own)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-store-password-'));
  try {
    const base = { kind: 'postgres' as const, url: 'postgres://hub@db/x', minFreeMb: 64, poolSize: 10 };
    writeFileSync(join(dir, 'db-password'), 'from-file\n', { mode: 0o600 });
    assert.equal(storePassword({ ...base, passwordFile: 'db-password' }, dir, {}), 'from-file');
    assert.equal(storePassword(base, dir, { [storePasswordEnv]: 'from-env' }), 'from-env');
    assert.equal(storePassword(base, dir, {}), undefined);
    assert.throws(() => storePassword({ ...base, passwordFile: 'missing' }, dir, {}), {
      code: 'CONFIG_INVALID',
      message: /store\.passwordFile: cannot read .*missing: ENOENT/,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('blobs: a directory, by default where hubs always kept attachments; errors name the key and the form', () => {
  const { blobs } = parseConfig(hubConfigSchema, minimal, 'hub.yaml');
  assert.deepEqual(blobs, { kind: 'directory', path: 'attachments' });
  assert.equal(blobsDirOf(blobs, '/var/lib/lifeline'), '/var/lib/lifeline/attachments');
  const shared = parseConfig(
    hubConfigSchema,
    { ...minimal, blobs: { kind: 'directory', path: '/srv/lifeline-blobs' } },
    'hub.yaml',
  ).blobs;
  assert.equal(blobsDirOf(shared, '/var/lib/lifeline'), '/srv/lifeline-blobs');
  const relative = parseConfig(
    hubConfigSchema,
    { ...minimal, blobs: { path: '../shared/blobs' } },
    'hub.yaml',
  );
  assert.equal(blobsDirOf(relative.blobs, '/var/lib/lifeline'), '/var/lib/shared/blobs');
  const cases: [unknown, RegExp][] = [
    [{ kind: 's3', path: 'x' }, /blobs\.kind: expected 'directory' \(the one kind of blob store so far\)/],
    [{ path: '' }, /blobs\.path: expected a directory path, absolute or relative to the data directory/],
    [{ path: 7 }, /blobs\.path: expected a directory path/],
    [{ path: 'a', bucket: 'b' }, /blobs\.bucket: unknown key/],
    ['attachments', /blobs: expected a mapping: \{ kind: directory, path: PATH \}/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseConfig(hubConfigSchema, { ...minimal, blobs: value }, 'hub.yaml'), {
      code: 'CONFIG_INVALID',
      message,
    });
  }
});
