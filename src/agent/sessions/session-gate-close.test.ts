// The session gate at shutdown, on real parts (HTTP/2 over loopback, a TCP service, agent.db in a
// temp dir): close() ends every running session and resolves only once each end is in the store
// with its audit entry, so the database can be closed right after it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type ClientHttp2Session, type Http2Server } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { createTicketKeyPair, TicketSigner, TicketVerifier } from '../../pki/index.js';
import {
  header,
  sessionProtocol,
  ticketIssuer,
  tunnelSessionPath,
  type TicketClaims,
} from '../../protocol/index.js';
import { AgentStore } from '../store/index.js';
import { AuditLog } from '../audit/index.js';
import { PolicyStore } from './policy-store.js';
import { SessionGate } from './session-gate.js';

const stationId = 'ST-7KQ3-9XPM-4';
const keys = createTicketKeyPair();
const signer = new TicketSigner(keys.privateKeyPem);

describe('the session gate at shutdown', () => {
  let dir: string;
  let store: AgentStore;
  let gate: SessionGate;
  let echo: Server;
  let server: Http2Server;
  let client: ClientHttp2Session;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeline-gate-close-'));
    echo = createTcpServer((socket) => socket.pipe(socket));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    store = await AgentStore.open(join(dir, 'agent.db'));
    await store.appendAudit(
      { atMs: Date.now(), actor: 'admin@cli', action: 'service.add', detail: { service: 'echo' } },
      { putService: { name: 'echo', host: '127.0.0.1', port: (echo.address() as AddressInfo).port } },
    );
    gate = new SessionGate({
      stationId,
      verifier: new TicketVerifier(keys.publicKeyPem),
      store,
      policyStore: new PolicyStore(store.db),
      audit: new AuditLog(store, systemClock, silentLogger()),
      policy: () => ({ remoteEnabled: true, accessLevel: 'full' }),
      clock: systemClock,
      logger: silentLogger(),
      maxConcurrent: 10,
      targetConnectTimeoutMs: 1000,
      maxDurationMs: 60_000,
      idleTimeoutMs: 60_000,
      requestTtlMs: 3_600_000,
      flood: { intervalMs: 60_000, maxAttemptsPerTechnician: 8, refusalsAuditedPerTechnician: 3 },
      maxPendingRequests: 2,
    });
    server = createServer({ settings: { enableConnectProtocol: true } });
    server.on('stream', (stream, headers) => gate.handleStream(stream, headers));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await once(client, 'remoteSettings');
  });

  after(async () => {
    client?.close();
    await new Promise((resolve) => server?.close(resolve));
    await new Promise((resolve) => echo?.close(resolve));
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a session to echo as the hub would, and waits until bytes go both ways. */
  const openSession = async (technician: string) => {
    const iat = Math.floor(Date.now() / 1000);
    const claims: TicketClaims = {
      iss: ticketIssuer,
      aud: stationId,
      sub: technician,
      name: technician,
      groups: ['technicians'],
      svc: 'echo',
      sid: randomBytes(16).toString('hex'),
      jti: randomBytes(16).toString('hex'),
      iat,
      exp: iat + 30,
      amr: ['pwd'],
    };
    const stream = client.request({
      ':method': 'CONNECT',
      ':protocol': sessionProtocol,
      ':scheme': 'https',
      ':authority': 'station',
      ':path': tunnelSessionPath('echo'),
      [header.ticket]: await signer.sign(claims),
      [header.sessionId]: claims.sid,
    });
    const [headers] = (await once(stream, 'response')) as [Record<string, string | number>];
    assert.equal(headers[':status'], 200);
    stream.write('ping');
    await once(stream, 'data');
    stream.on('error', () => undefined);
    return { id: claims.sid, stream };
  };

  test('close() resolves once every running session has ended and its end is written', async () => {
    const sessions = [await openSession('ana'), await openSession('bob')];
    assert.equal(gate.activeCount, 2);
    await gate.close();
    // No wait of any kind between close() and these reads: the ends are written already.
    assert.equal(gate.activeCount, 0);
    const ended = (await store.listSessions()).filter((s) => sessions.some((o) => o.id === s.id));
    assert.deepEqual(
      ended.map((s) => s.endReason),
      ['agent-shutdown', 'agent-shutdown'],
    );
    const ends = (await store.listAudit()).filter((e) => e.action === 'session.end');
    assert.deepEqual(new Set(ends.map((e) => e.detail.sessionId)), new Set(sessions.map((s) => s.id)));
    assert.deepEqual(await gate.close(), undefined, 'closing again is a no-op');
  });
});
