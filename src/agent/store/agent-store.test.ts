import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { AgentStore } from './agent-store.js';
import { auditEntryHash, genesisHash, type AuditEntry } from '../../protocol/index.js';

const t0 = 1_750_000_000_000;
const dir = mkdtempSync(join(tmpdir(), 'lifeline-agent-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** The first broken link of the chain, or undefined if every entry checks out. */
function chainBreak(entries: AuditEntry[]): string | undefined {
  let prevHash = genesisHash;
  for (const entry of entries) {
    const { hash, ...unhashed } = entry;
    if (entry.prevHash !== prevHash) return `seq ${entry.seq}: prevHash does not match`;
    if (auditEntryHash(unhashed) !== hash) return `seq ${entry.seq}: hash does not match`;
    prevHash = hash;
  }
  return undefined;
}

describe('AgentStore', () => {
  let path: string;
  let store: AgentStore;
  beforeEach(async () => {
    path = join(dir, `agent-${++files}.db`);
    store = await AgentStore.open(path);
  });
  afterEach(async () => {
    await store.close();
  });

  async function reopen(): Promise<void> {
    await store.close();
    store = await AgentStore.open(path);
  }

  describe('settings', () => {
    test('JSON values read back as written, also after reopening', async () => {
      const values: Record<string, unknown> = {
        object: { remoteEnabled: true, accessLevel: 'request', nested: { list: [1, 'two', null] } },
        array: ['a', 'b'],
        text: 'grüße «quoted» \u2028',
        number: 12.5,
        zero: 0,
        boolean: false,
        null: null,
      };
      for (const [key, value] of Object.entries(values)) await store.setSetting(key, value);
      await reopen();
      for (const [key, value] of Object.entries(values)) {
        assert.deepEqual(await store.getSetting(key), value, key);
      }
    });

    test('a missing setting is undefined, unlike one set to null', async () => {
      assert.equal(await store.getSetting('missing'), undefined);
      await store.setSetting('set', null);
      assert.equal(await store.getSetting('set'), null);
    });

    test('setting a key again replaces its value', async () => {
      await store.setSetting('accessLevel', 'full');
      await store.setSetting('accessLevel', { level: 'none' });
      assert.deepEqual(await store.getSetting('accessLevel'), { level: 'none' });
    });
  });

  describe('services', () => {
    const add = (atMs: number, service: { name: string; host: string; port: number }) =>
      store.appendAudit(
        { atMs, actor: 'admin@cli', action: 'service.add', detail: { service: service.name } },
        { putService: service },
      );
    const remove = (atMs: number, name: string) =>
      store.appendAudit(
        { atMs, actor: 'admin@cli', action: 'service.remove', detail: { service: name } },
        { removeService: name },
      );

    test('services are put, read, listed by name and removed, each with its audit entry', async () => {
      assert.deepEqual(await store.listServices(), []);
      await add(t0 + 1, { name: 'web', host: 'localhost', port: 443 });
      await add(t0, { name: 'ssh', host: '127.0.0.1', port: 22 });
      const ssh = { name: 'ssh', host: '127.0.0.1', port: 22, createdAtMs: t0 };
      const web = { name: 'web', host: 'localhost', port: 443, createdAtMs: t0 + 1 };
      assert.deepEqual(await store.getService('ssh'), ssh);
      assert.equal(await store.getService('ftp'), undefined);
      assert.deepEqual(await store.listServices(), [ssh, web]);

      await remove(t0 + 2, 'ssh');
      assert.equal(await store.getService('ssh'), undefined);
      assert.deepEqual(await store.listServices(), [web]);
      assert.deepEqual(
        (await store.listAudit()).map((e) => [e.action, e.detail.service]),
        [
          ['service.add', 'web'],
          ['service.add', 'ssh'],
          ['service.remove', 'ssh'],
        ],
      );
    });

    test('removing a service that does not exist writes nothing: no entry, POLICY_SERVICE_UNKNOWN', async () => {
      await assert.rejects(remove(t0, 'ssh'), {
        code: 'POLICY_SERVICE_UNKNOWN',
        message: 'no service named ssh',
      });
      assert.deepEqual(await store.listAudit(), []);
    });

    test('putting a service again changes its target and keeps its creation time', async () => {
      await add(t0, { name: 'ssh', host: '127.0.0.1', port: 22 });
      await add(t0 + 99, { name: 'ssh', host: '10.0.0.2', port: 2222 });
      assert.deepEqual(await store.getService('ssh'), {
        name: 'ssh',
        host: '10.0.0.2',
        port: 2222,
        createdAtMs: t0,
      });
    });

    test('a change whose audit entry cannot be written does not happen', async () => {
      await add(t0, { name: 'ssh', host: '127.0.0.1', port: 22 });
      const db = new Database(path);
      db.exec("create trigger refuse_audit before insert on audit begin select raise(abort, 'refused'); end");
      db.close();
      await assert.rejects(add(t0 + 1, { name: 'web', host: '127.0.0.1', port: 443 }), /refused/);
      await assert.rejects(remove(t0 + 2, 'ssh'), /refused/);
      await assert.rejects(
        store.appendAudit(
          { atMs: t0 + 3, actor: 'agent', action: 'x', detail: {} },
          { settings: [{ key: 'k', value: 1 }] },
        ),
        /refused/,
      );
      assert.deepEqual(
        (await store.listServices()).map((s) => s.name),
        ['ssh'],
      );
      assert.equal(await store.getSetting('k'), undefined);
      assert.equal((await store.listAudit()).length, 1);
    });
  });

  describe('settings written with an audit entry', () => {
    test('a value, or an update of the stored value given the entry time, in the same transaction', async () => {
      await store.setSetting('list', ['a']);
      const entry = await store.appendAudit(
        { atMs: t0, actor: 'agent', action: 'x', detail: {} },
        {
          settings: [
            { key: 'flag', value: true },
            { key: 'list', update: (current, atMs) => [...(current as string[]), `b@${atMs}`] },
            { key: 'fresh', update: (current) => ({ was: current ?? null }) },
          ],
        },
      );
      assert.equal(entry.seq, 1);
      assert.equal(await store.getSetting('flag'), true);
      assert.deepEqual(await store.getSetting('list'), ['a', `b@${t0}`]);
      assert.deepEqual(await store.getSetting('fresh'), { was: null });
    });

    test('concurrent updates of one setting are all kept', async () => {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.appendAudit(
            { atMs: t0 + i, actor: 'agent', action: 'x', detail: { i } },
            { settings: [{ key: 'n', update: (current) => ((current as number | undefined) ?? 0) + 1 }] },
          ),
        ),
      );
      assert.equal(await store.getSetting('n'), 10);
    });
  });

  describe('ticket nonces', () => {
    const jti = '0123456789abcdef0123456789abcdef';

    test('a nonce is accepted once', async () => {
      assert.equal(await store.useTicketNonce(jti, t0 + 60_000), true);
      assert.equal(await store.useTicketNonce(jti, t0 + 60_000), false);
      assert.equal(await store.useTicketNonce('f'.repeat(32), t0 + 60_000), true);
    });

    test('a replay is refused after the agent restarts', async () => {
      assert.equal(await store.useTicketNonce(jti, t0 + 60_000), true);
      await reopen();
      assert.equal(await store.useTicketNonce(jti, t0 + 60_000), false);
    });

    test('a nonce is kept until its ticket expires, then purged', async () => {
      await store.useTicketNonce(jti, t0 + 60_000);
      await store.useTicketNonce('f'.repeat(32), t0 + 120_000);
      // At the expiry instant it is still kept.
      await store.purgeTicketNonces(t0 + 60_000);
      assert.equal(await store.useTicketNonce(jti, t0 + 60_000), false);
      // After it, it is forgotten; the later one stays.
      await store.purgeTicketNonces(t0 + 60_001);
      await store.close();
      const db = new Database(path, { readonly: true });
      try {
        const rows = db.prepare('SELECT jti FROM ticket_nonces ORDER BY jti').all();
        assert.deepEqual(rows, [{ jti: 'f'.repeat(32) }]);
      } finally {
        db.close();
      }
      store = await AgentStore.open(path);
    });
  });

  describe('audit chain', () => {
    const details: Record<string, unknown>[] = [
      {},
      { service: 'ssh', technician: 'alice', reason: 'case «4711»' },
      { nested: { list: [1, 2, { deep: null }] }, flag: true },
      { code: 'TICKET_REPLAYED' },
    ];

    async function appendAll(): Promise<AuditEntry[]> {
      const appended: AuditEntry[] = [];
      for (const [i, detail] of details.entries()) {
        appended.push(
          await store.appendAudit({ atMs: t0 + i, actor: 'agent', action: `event.${i}`, detail }),
        );
      }
      return appended;
    }

    test('each entry links to the one before, starting from the genesis hash', async () => {
      const appended = await appendAll();
      const listed = await store.listAudit();
      assert.deepEqual(listed, appended);
      assert.deepEqual(
        listed.map((e) => e.seq),
        [1, 2, 3, 4],
      );
      assert.equal(listed[0]?.prevHash, genesisHash);
      for (let i = 1; i < listed.length; i++) assert.equal(listed[i]?.prevHash, listed[i - 1]?.hash);
      for (const entry of listed) {
        const { hash, ...unhashed } = entry;
        assert.equal(auditEntryHash(unhashed), hash);
      }
      assert.equal(new Set(listed.map((e) => e.hash)).size, listed.length);
    });

    test('the chain continues after reopening', async () => {
      await appendAll();
      await reopen();
      const next = await store.appendAudit({
        atMs: t0 + 10,
        actor: 'agent',
        action: 'agent.start',
        detail: {},
      });
      const listed = await store.listAudit();
      assert.equal(next.seq, 5);
      assert.equal(next.prevHash, listed[3]?.hash);
      assert.equal(chainBreak(listed), undefined);
    });

    test('concurrent appends do not fork the chain', async () => {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.appendAudit({ atMs: t0 + i, actor: 'agent', action: 'burst', detail: { i } }),
        ),
      );
      const listed = await store.listAudit();
      assert.deepEqual(
        listed.map((e) => e.seq),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      assert.equal(chainBreak(listed), undefined);
    });

    test('since and limit select entries', async () => {
      await appendAll();
      assert.deepEqual(
        (await store.listAudit({ sinceMs: t0 + 2 })).map((e) => e.seq),
        [3, 4],
      );
      assert.deepEqual(
        (await store.listAudit({ limit: 2 })).map((e) => e.seq),
        [1, 2],
      );
    });

    test('editing a detail in the database breaks the hash of that entry', async () => {
      await appendAll();
      await store.close();
      const db = new Database(path);
      try {
        db.prepare('UPDATE audit SET detail = ? WHERE seq = 2').run(
          JSON.stringify({ service: 'ssh', technician: 'mallory', reason: 'case «4711»' }),
        );
      } finally {
        db.close();
      }
      store = await AgentStore.open(path);
      const listed = await store.listAudit();
      const edited = listed[1];
      assert.ok(edited);
      const { hash, ...unhashed } = edited;
      assert.notEqual(auditEntryHash(unhashed), hash);
      assert.equal(chainBreak(listed), 'seq 2: hash does not match');
    });

    test('deleting an entry in the database breaks the link of the next', async () => {
      await appendAll();
      await store.close();
      const db = new Database(path);
      try {
        db.prepare('DELETE FROM audit WHERE seq = 3').run();
      } finally {
        db.close();
      }
      store = await AgentStore.open(path);
      assert.equal(chainBreak(await store.listAudit()), 'seq 4: prevHash does not match');
    });

    test('any JSON detail hashes the same after a round trip through the database', async () => {
      let atMs = t0;
      await fc.assert(
        fc.asyncProperty(fc.dictionary(fc.string(), fc.jsonValue()), async (detail) => {
          const appended = await store.appendAudit({ atMs: ++atMs, actor: 'agent', action: 'prop', detail });
          const [read] = await store.listAudit({ sinceMs: atMs });
          assert.ok(read);
          const { hash, ...unhashed } = read;
          assert.equal(hash, appended.hash);
          assert.equal(auditEntryHash(unhashed), hash);
        }),
        { numRuns: 200, interruptAfterTimeLimit: 5000 },
      );
      assert.equal(chainBreak(await store.listAudit()), undefined);
    });
  });

  describe('sessions', () => {
    function agentSession(id: string, startedAtMs: number) {
      return {
        id,
        technician: 'alice',
        technicianName: 'Alice Example',
        service: 'ssh',
        reason: null,
        startedAtMs,
        endedAtMs: null,
        endReason: null,
        bytesIn: 0,
        bytesOut: 0,
      };
    }

    test('sessions left open are closed as agent-shutdown, once', async () => {
      for (const [id, at] of [
        ['s1', t0],
        ['s2', t0 + 1000],
        ['s3', t0 + 2000],
      ] as const) {
        await store.appendAudit(
          { atMs: at, actor: 'technician:alice', action: 'session.start', detail: { id } },
          {
            sessionStart: agentSession(id, at),
          },
        );
      }
      const end = { endedAtMs: t0 + 5000, endReason: 'closed', bytesIn: 5_000_000_000, bytesOut: 42 };
      await store.appendAudit(
        { atMs: end.endedAtMs, actor: 'technician:alice', action: 'session.end', detail: {} },
        {
          sessionEnd: { id: 's2', ...end },
        },
      );
      // Each session row was written with its audit entry.
      assert.deepEqual(
        (await store.listAudit()).filter((e) => e.action.startsWith('session.')).map((e) => e.action),
        ['session.start', 'session.start', 'session.start', 'session.end'],
      );
      await reopen();

      assert.equal(await store.closeDanglingSessions(t0 + 9000), 2);
      assert.equal(await store.closeDanglingSessions(t0 + 9999), 0);
      const dangling = { endedAtMs: t0 + 9000, endReason: 'agent-shutdown' };
      assert.deepEqual(await store.listSessions(), [
        { ...agentSession('s3', t0 + 2000), ...dangling },
        { ...agentSession('s2', t0 + 1000), ...end },
        { ...agentSession('s1', t0), ...dangling },
      ]);
    });

    test('sessions are listed newest first up to the limit', async () => {
      for (let i = 0; i < 5; i++) {
        await store.appendAudit(
          { atMs: t0 + i, actor: 'a', action: 'session.start', detail: {} },
          {
            sessionStart: agentSession(`s${i}`, t0 + i),
          },
        );
      }
      assert.deepEqual(
        (await store.listSessions(2)).map((s) => s.id),
        ['s4', 's3'],
      );
    });
  });
});
