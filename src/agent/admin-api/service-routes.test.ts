// The service routes on a real agent.db: each change answers, lands in the store and writes its
// audit entry (which the agent's listeners pass on to syslog and the live pages); a refused one
// writes nothing.

import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { systemClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { installApiConventions } from '../../common/net/index.js';
import type { AuditEntry } from '../../protocol/index.js';
import { AuditLog } from '../audit/index.js';
import { deleteService, putService } from '../sessions/index.js';
import { AgentStore } from '../store/index.js';
import { registerServiceRoutes } from './service-routes.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-service-routes-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

describe('service routes', () => {
  let store: AgentStore;
  let app: FastifyInstance;
  let published: AuditEntry[];

  beforeEach(async () => {
    store = await AgentStore.open(join(dir, `agent-${++files}.db`));
    const audit = new AuditLog(store, systemClock, silentLogger());
    published = [];
    audit.onEntry((entry) => published.push(entry));
    app = Fastify();
    installApiConventions(app, silentLogger());
    registerServiceRoutes(
      app,
      {
        services: () => store.listServices(),
        addService: (service, actor) => putService(audit, service, actor),
        removeService: (name, actor) => deleteService(audit, name, actor),
      },
      (ip) => `admin@${ip}`,
    );
  });
  afterEach(async () => {
    await app.close();
    await store.close();
  });

  const put = (name: string, body: unknown) =>
    app.inject({ method: 'PUT', url: `/v1/services/${name}`, payload: body as object });
  const remove = (name: string) => app.inject({ method: 'DELETE', url: `/v1/services/${name}` });

  test('PUT adds a service with its audit entry, and again changes its address', async () => {
    const added = await put('web', { port: 8443 });
    assert.equal(added.statusCode, 200, added.body);
    assert.deepEqual(added.json(), { service: { name: 'web', host: '127.0.0.1', port: 8443 } });
    const changed = await put('web', { host: 'localhost', port: 8444 });
    assert.equal(changed.statusCode, 200, changed.body);
    const listed = await app.inject({ method: 'GET', url: '/v1/services' });
    assert.deepEqual(
      listed
        .json<{ services: { name: string; host: string; port: number }[] }>()
        .services.map(({ name, host, port }) => ({ name, host, port })),
      [{ name: 'web', host: '127.0.0.1', port: 8444 }],
    );
    const stored = await store.listAudit();
    assert.deepEqual(
      stored.map((e) => [e.actor, e.action, e.detail]),
      [
        ['admin@127.0.0.1', 'service.add', { service: 'web', host: '127.0.0.1', port: 8443 }],
        ['admin@127.0.0.1', 'service.add', { service: 'web', host: '127.0.0.1', port: 8444 }],
      ],
    );
    assert.deepEqual(published, stored);
  });

  test('DELETE removes a service with its audit entry; an unknown one is POLICY_SERVICE_UNKNOWN', async () => {
    await put('ssh', { host: '::1', port: 22 });
    const removed = await remove('ssh');
    assert.equal(removed.statusCode, 200, removed.body);
    assert.deepEqual(removed.json(), { removed: 'ssh' });
    assert.deepEqual(await store.listServices(), []);
    const again = await remove('ssh');
    assert.equal(again.statusCode, 403);
    assert.deepEqual(again.json(), { code: 'POLICY_SERVICE_UNKNOWN', message: 'no service named ssh' });
    assert.deepEqual(
      (await store.listAudit()).map((e) => [e.action, e.detail.service]),
      [
        ['service.add', 'ssh'],
        ['service.remove', 'ssh'],
      ],
    );
    assert.equal(published.length, 2);
  });

  test('a bad name, port, host or field is refused with its code, and nothing is written', async () => {
    const cases: [() => ReturnType<typeof put>, number, string, RegExp][] = [
      [() => put('Web', { port: 80 }), 400, 'API_BAD_REQUEST', /name/],
      [() => put('web', { port: 70_000 }), 400, 'API_BAD_REQUEST', /port/],
      [() => put('web', { port: 80.5 }), 400, 'API_BAD_REQUEST', /port/],
      [() => put('web', {}), 400, 'API_BAD_REQUEST', /port/],
      [() => put('web', { port: 80, note: 'x' }), 400, 'API_BAD_REQUEST', /note/],
      [
        () => put('web', { host: '8.8.8.8', port: 80 }),
        400,
        'POLICY_TARGET_INVALID',
        /^host: 8\.8\.8\.8 is not loopback/,
      ],
      [
        () => put('web', { host: 'example.com', port: 80 }),
        400,
        'POLICY_TARGET_INVALID',
        /^host: expected an IP address/,
      ],
      [() => remove('W%21'), 400, 'API_BAD_REQUEST', /name/],
    ];
    for (const [send, status, code, message] of cases) {
      const answer = await send();
      assert.equal(answer.statusCode, status, answer.body);
      const body = answer.json<{ code: string; message: string }>();
      assert.equal(body.code, code, answer.body);
      assert.match(body.message, message);
    }
    assert.deepEqual(await store.listServices(), []);
    assert.deepEqual(await store.listAudit(), []);
    assert.deepEqual(published, []);
  });
});
