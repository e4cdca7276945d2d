// The session gate under a flood, on real parts: HTTP/2 streams over loopback, Ed25519 tickets, a
// SQLite agent.db in a temp dir. Only time is the test's: a manual clock, and the timers that
// write refusal summaries run when the test says.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type ClientHttp2Session, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { createTicketKeyPair, TicketSigner, TicketVerifier } from '../../pki/index.js';
import {
  header,
  probeHeaderValue,
  sessionProtocol,
  ticketIssuer,
  tunnelSessionPath,
  type TicketClaims,
} from '../../protocol/index.js';
import { AgentStore } from '../store/index.js';
import { PolicyStore } from './policy-store.js';
import { AuditLog } from '../audit/index.js';
import { verifyAuditChain } from '../audit/index.js';
import type { Timers } from './refusal-audit.js';
import { SessionGate, type GateLimit } from './session-gate.js';

const stationId = 'ST-7KQ3-9XPM-4';
const keys = createTicketKeyPair();
const signer = new TicketSigner(keys.privateKeyPem);

/** Timers the test runs: `due()` runs those whose time came on the manual clock. */
class ManualTimers implements Timers {
  readonly #clock: ManualClock;
  readonly #pending = new Map<number, { atMs: number; run: () => void }>();
  #next = 1;

  constructor(clock: ManualClock) {
    this.#clock = clock;
  }

  set(run: () => void, delayMs: number): number {
    this.#pending.set(this.#next, { atMs: this.#clock.now() + delayMs, run });
    return this.#next++;
  }

  clear(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  due(): void {
    for (const [id, timer] of [...this.#pending]) {
      if (timer.atMs > this.#clock.now()) continue;
      this.#pending.delete(id);
      timer.run();
    }
  }
}

interface Answer {
  status: number;
  code: string | undefined;
  body: { code?: string; message?: string };
}

describe('the session gate under a flood', () => {
  let dir: string;
  let store: AgentStore;
  let policyStore: PolicyStore;
  let clock: ManualClock;
  let timers: ManualTimers;
  let gate: SessionGate;
  let server: Http2Server;
  let client: ClientHttp2Session;
  const limited: GateLimit[] = [];

  const openGate = async () => {
    store = await AgentStore.open(join(dir, 'agent.db'));
    await store.appendAudit(
      { atMs: clock.now(), actor: 'admin@cli', action: 'service.add', detail: { service: 'echo' } },
      { putService: { name: 'echo', host: '127.0.0.1', port: 9 } },
    );
    policyStore = new PolicyStore(store.db);
    gate = new SessionGate({
      stationId,
      verifier: new TicketVerifier(keys.publicKeyPem),
      store,
      policyStore,
      audit: new AuditLog(store, clock, silentLogger()),
      policy: () => ({ remoteEnabled: true, accessLevel: 'restricted' }),
      clock,
      logger: silentLogger(),
      maxConcurrent: 10,
      targetConnectTimeoutMs: 1000,
      maxDurationMs: 60_000,
      idleTimeoutMs: 60_000,
      requestTtlMs: 3_600_000,
      flood: { intervalMs: 60_000, maxAttemptsPerTechnician: 8, refusalsAuditedPerTechnician: 3 },
      maxPendingRequests: 2,
      onLimitRefused: (limit) => limited.push(limit),
      timers,
    });
  };

  const claims = (sub: string): TicketClaims => {
    const iat = Math.floor(clock.now() / 1000);
    return {
      iss: ticketIssuer,
      aud: stationId,
      sub,
      name: sub,
      groups: ['technicians'],
      svc: 'echo',
      sid: randomBytes(16).toString('hex'),
      jti: randomBytes(16).toString('hex'),
      iat,
      exp: iat + 30,
      amr: ['pwd'],
    };
  };

  /** One probe (`lifeline-probe: 1`) with this ticket, as the hub sends it on the tunnel. */
  const ask = async (ticketClaims: TicketClaims, service = 'echo'): Promise<Answer> => {
    const stream = client.request({
      ':method': 'CONNECT',
      ':protocol': sessionProtocol,
      ':scheme': 'https',
      ':authority': 'station',
      ':path': tunnelSessionPath(service),
      [header.ticket]: await signer.sign(ticketClaims),
      [header.sessionId]: ticketClaims.sid,
      [header.probe]: probeHeaderValue('check'),
    });
    const [headers] = (await once(stream, 'response')) as [Record<string, string | number>];
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await once(stream, 'close');
    const code = headers[header.errorCode];
    return {
      status: Number(headers[':status']),
      code: typeof code === 'string' ? code : undefined,
      body: text ? (JSON.parse(text) as Answer['body']) : {},
    };
  };

  const entries = () => store.listAudit();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeline-gate-'));
    clock = new ManualClock(Date.now());
    timers = new ManualTimers(clock);
    await openGate();
    server = createServer({ settings: { enableConnectProtocol: true } });
    server.on('stream', (stream, headers) => gate.handleStream(stream, headers));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await once(client, 'remoteSettings');
  });

  after(async () => {
    client?.close();
    await gate?.close();
    await new Promise((resolve) => server?.close(resolve));
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a technician's flood: a few refusals audited, the rest in one summary, attempts past the bound refused", async () => {
    const tickets = Array.from({ length: 12 }, () => claims('ana'));
    const answers: Answer[] = [];
    for (const ticket of tickets) answers.push(await ask(ticket));
    assert.deepEqual(
      answers.map((a) => [a.status, a.code]),
      [
        ...Array.from({ length: 8 }, () => [403, 'POLICY_PENDING_APPROVAL']),
        ...Array.from({ length: 4 }, () => [429, 'API_LIMIT_REACHED']),
      ],
    );
    assert.match(
      answers[8]?.body.message ?? '',
      /^technician ana made more session attempts than one technician may \(agent\.yaml sessions\.maxAttemptsPerTechnician: 8 per 1m\): try again in 60 s$/,
    );
    assert.deepEqual(limited, [
      'session-attempts',
      'session-attempts',
      'session-attempts',
      'session-attempts',
    ]);
    const refused = (await entries()).filter((e) => e.actor === 'technician:ana');
    assert.deepEqual(
      refused.map((e) => e.action),
      ['access-request.created', 'session.refused', 'session.refused', 'session.refused'],
    );
    // Every refusal is still counted per technician.
    assert.deepEqual(
      (await policyStore.listRefusals()).map((r) => [r.technician, r.count]),
      [['ana', 12]],
    );

    // A summarised attempt's ticket is as used up as an audited one's.
    const replay = await ask(tickets[6] ?? claims('none'));
    assert.deepEqual([replay.status, replay.code], [403, 'TICKET_REPLAYED']);

    // The flood stopped; at the interval's end the summary is written by its timer.
    clock.advance(60_000);
    timers.due();
    const summary = await waitForEntry('session.refused-summary');
    assert.equal(summary.actor, 'technician:ana');
    assert.deepEqual(summary.detail, {
      count: 9,
      codes: { API_LIMIT_REACHED: 4, POLICY_PENDING_APPROVAL: 5 },
      audited: 3,
      fromMs: summary.detail.fromMs,
      untilMs: (summary.detail.fromMs as number) + 60_000,
    });
    assert.equal(verifyAuditChain(await entries()).ok, true);
    // A new interval: the technician may try again.
    assert.equal((await ask(claims('ana'))).code, 'POLICY_PENDING_APPROVAL');
  });

  test('a new access request past requests.maxPending is refused without a row; known ones still answer', async () => {
    assert.equal((await ask(claims('bob'))).code, 'POLICY_PENDING_APPROVAL');
    const full = await ask(claims('carl'));
    assert.deepEqual([full.status, full.code], [429, 'API_LIMIT_REACHED']);
    assert.match(full.body.message ?? '', /2 pending access requests.*agent\.yaml requests\.maxPending/);
    assert.equal(limited.at(-1), 'access-requests');
    assert.equal(await policyStore.countPending(clock.now()), 2);
    assert.equal((await ask(claims('bob'))).code, 'POLICY_PENDING_APPROVAL');
  });

  test('shutdown writes the summary under way; a restart still refuses its tickets as replays', async () => {
    const tickets = Array.from({ length: 6 }, () => claims('dora'));
    for (const ticket of tickets) await ask(ticket);
    const before = (await entries()).filter((e) => e.action === 'session.refused-summary').length;
    await gate.close();
    const summaries = (await entries()).filter((e) => e.action === 'session.refused-summary');
    assert.equal(summaries.length, before + 1);
    // Dora finds no room for an access request either: 3 refusals audited, 3 in the summary.
    assert.deepEqual(summaries.at(-1)?.detail.codes, { API_LIMIT_REACHED: 3 });
    assert.equal(summaries.at(-1)?.actor, 'technician:dora');

    await store.close();
    await openGate();
    for (const ticket of tickets) {
      const again = await ask(ticket);
      assert.equal(again.code, 'TICKET_REPLAYED', `ticket ${tickets.indexOf(ticket) + 1}`);
    }
    assert.equal(verifyAuditChain(await entries()).ok, true);
  });

  async function waitForEntry(action: string) {
    for (let i = 0; i < 100; i++) {
      const found = (await entries()).find((e) => e.action === action);
      if (found) return found;
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.fail(`no ${action} entry`);
  }
});
