// agent.yaml `proxy` and the HTTPS_PROXY / NO_PROXY fallback: what is accepted, what wins, and that
// no password is ever part of what is shown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bypassesProxy,
  currentProxyPassword,
  describeProxy,
  proxyConfigSchema,
  proxyFor,
  resolveProxy,
} from './proxy-config.js';

test('the schema takes http://HOST:PORT, with username and passwordFile together or not at all', () => {
  assert.ok(proxyConfigSchema.safeParse({ url: 'http://proxy.corp:3128' }).success);
  assert.ok(
    proxyConfigSchema.safeParse({ url: 'http://[::1]:3128', username: 'u', passwordFile: 'pw' }).success,
  );
  for (const url of ['https://proxy:3128', 'http://u:p@proxy:3128', 'http://proxy:3128/path', 'proxy:3128']) {
    const parsed = proxyConfigSchema.safeParse({ url });
    assert.equal(parsed.success, false, url);
    assert.match(parsed.error?.issues[0]?.message ?? '', /expected http:\/\/HOST:PORT/);
  }
  const half = proxyConfigSchema.safeParse({ url: 'http://proxy:3128', username: 'u' });
  assert.equal(half.success, false);
  assert.deepEqual(half.error?.issues[0]?.path, ['passwordFile']);
  assert.equal(proxyConfigSchema.safeParse({ url: 'http://proxy:3128', user: 'u' }).success, false);
});

test('agent.yaml wins over HTTPS_PROXY; the password file is read relative to the data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-proxy-'));
  try {
    writeFileSync(join(dir, 'proxy-password'), 'file-secret\n');
    const proxy = resolveProxy(
      { url: 'http://127.0.0.1:3128', username: 'appliance', passwordFile: 'proxy-password' },
      dir,
      { HTTPS_PROXY: 'http://other:8080' },
    );
    assert.deepEqual(proxy, {
      address: { host: '127.0.0.1', port: 3128 },
      username: 'appliance',
      password: 'file-secret',
      passwordFile: join(dir, 'proxy-password'),
      source: 'agent.yaml',
      noProxy: [],
    });
    // The file is read again for every CONNECT: a changed password needs no restart.
    assert.equal(proxy && currentProxyPassword(proxy), 'file-secret');
    writeFileSync(join(dir, 'proxy-password'), '  rotated-secret \n');
    assert.equal(proxy && currentProxyPassword(proxy), 'rotated-secret');
    writeFileSync(join(dir, 'proxy-password'), '\n');
    assert.throws(() => proxy && currentProxyPassword(proxy), {
      code: 'CONFIG_INVALID',
      message: /proxy\.passwordFile: .*proxy-password is empty/,
    });
    assert.throws(
      () => resolveProxy({ url: 'http://127.0.0.1:3128', username: 'a', passwordFile: 'missing' }, dir, {}),
      { code: 'CONFIG_INVALID', message: /proxy\.passwordFile: cannot read .*missing \(ENOENT\)/ },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('HTTPS_PROXY (or https_proxy) with user and password, NO_PROXY exempting hosts', () => {
  assert.equal(resolveProxy(undefined, '/', {}), undefined);
  const proxy = resolveProxy(undefined, '/', {
    https_proxy: 'http://appliance:p%40ss@proxy.corp:3128/',
    NO_PROXY: 'localhost, .internal.example, hub2.example.com:8443',
  });
  assert.ok(proxy);
  assert.equal(proxy.username, 'appliance');
  assert.equal(proxy.password, 'p@ss');
  assert.equal(proxy.source, 'HTTPS_PROXY');
  assert.equal(describeProxy(proxy), 'http://proxy.corp:3128');
  assert.ok(!JSON.stringify(describeProxy(proxy)).includes('p@ss'));
  assert.equal(bypassesProxy(proxy, 'localhost'), true);
  assert.equal(bypassesProxy(proxy, 'hub.internal.example'), true);
  assert.equal(bypassesProxy(proxy, 'hub2.example.com'), true);
  assert.equal(bypassesProxy(proxy, 'hub1.example.com'), false);
  assert.equal(proxyFor(proxy, 'hub1.example.com'), proxy);
  assert.equal(proxyFor(proxy, 'localhost'), undefined);
  assert.equal(bypassesProxy({ ...proxy, noProxy: ['*'] }, 'anything'), true);
  assert.throws(() => resolveProxy(undefined, '/', { HTTPS_PROXY: 'socks5://proxy:1080' }), {
    code: 'CONFIG_INVALID',
    message: /^HTTPS_PROXY: expected http:\/\/\[USER:PASSWORD@\]HOST:PORT/,
  });
});
