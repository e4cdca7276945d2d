// The agent checks every service ticket itself: a hub that replays, forges or misdirects tickets
// is refused. A stand-in hub with the real hub's keys accepts the agent's tunnel and sends them.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer as createTlsServer, type Server, type TLSSocket } from 'node:tls';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { TicketSigner, createTicketKeyPair } from '../src/pki/index.js';
import { ticketIssuer, type TicketClaims } from '../src/protocol/index.js';
import { Cluster, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

interface Answer {
  status: number;
  code: string | undefined;
  echoed: string;
}

class StandInHub {
  readonly server: Server;
  session: ClientHttp2Session | undefined;

  constructor(hubDir: string) {
    const read = (name: string) => readFileSync(join(hubDir, name), 'utf8');
    this.server = createTlsServer({
      key: read('server-key.pem'),
      cert: read('server.pem') + read('ca.pem'),
      ca: read('ca.pem'),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['lifeline-tunnel/1'],
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      this.session = h2connect('https://station', { createConnection: () => socket });
      this.session.on('error', () => undefined);
    });
  }

  async listen(port: number): Promise<void> {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
  }

  /** Sends one session request with `ticket` and reports the agent's answer. */
  async request(ticket: string, sessionId: string, service: string, send = 'ping'): Promise<Answer> {
    const session = this.session;
    if (!session) throw new Error('no tunnel');
    const stream = session.request(
      {
        ':method': 'CONNECT',
        ':protocol': 'lifeline-session/1',
        ':scheme': 'https',
        ':authority': 'station',
        ':path': `/v1/services/${service}`,
        'lifeline-ticket': ticket,
        'lifeline-session-id': sessionId,
      },
      { endStream: false },
    );
    const [headers] = (await once(stream, 'response')) as [Record<string, string | number>];
    const status = Number(headers[':status']);
    let echoed = '';
    stream.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
    if (status === 200) {
      stream.write(send);
      await waitFor('the echo', () => (echoed === send ? true : undefined));
      stream.end();
    }
    await once(stream, 'close');
    const code = headers['lifeline-error-code'];
    return { status, code: typeof code === 'string' ? code : undefined, echoed };
  }

  async close(): Promise<void> {
    this.session?.destroy();
    await new Promise((done) => this.server.close(done));
  }
}

describe('service tickets are checked by the agent', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let hub: StandInHub;
  let signer: TicketSigner;

  const claims = (overrides: Partial<TicketClaims> = {}): TicketClaims => {
    const iat = Math.floor(Date.now() / 1000);
    return {
      iss: ticketIssuer,
      aud: cluster.stationId,
      sub: 'tech',
      name: 'tech',
      groups: ['technicians'],
      svc: 'echo',
      sid: randomBytes(16).toString('hex'),
      jti: randomBytes(16).toString('hex'),
      iat,
      exp: iat + 30,
      amr: ['pwd'],
      ...overrides,
    };
  };

  const refusals = async (): Promise<string[]> => {
    const audit = JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as {
      action: string;
      detail: { code?: string };
    }[];
    return audit.filter((e) => e.action === 'session.refused').map((e) => e.detail.code ?? '');
  };

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start();
    await cluster.addService('echo', echo.port);
    await cluster.stopHub();
    hub = new StandInHub(cluster.hubDir);
    await hub.listen(cluster.stationPort);
    await cluster.waitForTunnel('connected', 10_000);
    signer = new TicketSigner(readFileSync(join(cluster.hubDir, 'ticket-key.pem'), 'utf8'));
  });

  after(async () => {
    await hub?.close();
    await cluster?.close();
    await echo?.close();
  });

  test('a valid ticket opens the session once; the same ticket again is a replay, also after a restart', async () => {
    const ticketClaims = claims();
    const ticket = await signer.sign(ticketClaims);
    const first = await hub.request(ticket, ticketClaims.sid, 'echo');
    assert.deepEqual(first, { status: 200, code: undefined, echoed: 'ping' });

    const replay = await hub.request(ticket, ticketClaims.sid, 'echo');
    assert.equal(replay.status, 403);
    assert.equal(replay.code, 'TICKET_REPLAYED');

    await cluster.stopAgent();
    await cluster.startAgent();
    await waitFor('the agent to redial the stand-in hub', async () =>
      (await cluster.agentStatus()).tunnel.state === 'connected' ? true : undefined,
    );
    const afterRestart = await hub.request(ticket, ticketClaims.sid, 'echo');
    assert.equal(afterRestart.code, 'TICKET_REPLAYED');
    assert.equal((await refusals()).filter((c) => c === 'TICKET_REPLAYED').length, 2);
  });

  test('tickets for another station, expired, forged or for another service are refused', async () => {
    const cases: [string, Promise<string>, string, string][] = [];
    const wrongStation = claims({ aud: 'ST-7KQ3-9XPM-4' });
    cases.push(['TICKET_WRONG_STATION', signer.sign(wrongStation), wrongStation.sid, 'echo']);
    const expired = claims({
      iat: Math.floor(Date.now() / 1000) - 120,
      exp: Math.floor(Date.now() / 1000) - 60,
    });
    cases.push(['TICKET_EXPIRED', signer.sign(expired), expired.sid, 'echo']);
    const forged = claims();
    cases.push([
      'TICKET_INVALID',
      new TicketSigner(createTicketKeyPair().privateKeyPem).sign(forged),
      forged.sid,
      'echo',
    ]);
    const tooLong = claims({ exp: Math.floor(Date.now() / 1000) + 600 });
    cases.push(['TICKET_INVALID', signer.sign(tooLong), tooLong.sid, 'echo']);
    const otherService = claims({ svc: 'ssh' });
    cases.push(['TICKET_WRONG_SERVICE', signer.sign(otherService), otherService.sid, 'echo']);
    const wrongSession = claims();
    cases.push(['TICKET_INVALID', signer.sign(wrongSession), randomBytes(16).toString('hex'), 'echo']);

    for (const [code, ticket, sessionId, service] of cases) {
      const answer = await hub.request(await ticket, sessionId, service);
      assert.equal(answer.status, 403, code);
      assert.equal(answer.code, code);
      assert.equal(answer.echoed.includes('ping'), false);
    }
    const codes = await refusals();
    for (const code of ['TICKET_WRONG_STATION', 'TICKET_EXPIRED', 'TICKET_INVALID', 'TICKET_WRONG_SERVICE']) {
      assert.ok(codes.includes(code), `${code} is audited`);
    }
  });
});
