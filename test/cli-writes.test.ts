// The CLI's changes go through the running agent: `lifeline agent service add` and `remove` while
// the agent runs are audited by the agent, so their entries reach the syslog receiver configured
// on it (a real TCP listener here, RFC 6587 octet counting). With the agent stopped, the CLI makes
// the change itself, its entry in the same hash chain.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Cluster, runCli } from './harness/cluster.js';

interface AuditJson {
  seq: number;
  hash: string;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

/** A syslog receiver over TCP: each frame is MSG-LEN, a space, then MSG-LEN bytes of message. */
class SyslogReceiver {
  readonly messages: string[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #waiting = new Set<() => void>();

  constructor() {
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      let buffered = Buffer.alloc(0);
      socket.on('data', (data: Buffer) => {
        buffered = Buffer.concat([buffered, data]);
        for (;;) {
          const space = buffered.indexOf(0x20);
          if (space < 0) break;
          const end = space + 1 + Number(buffered.subarray(0, space).toString('latin1'));
          if (buffered.length < end) break;
          this.messages.push(buffered.subarray(space + 1, end).toString('utf8'));
          buffered = buffered.subarray(end);
          for (const wake of this.#waiting) wake();
        }
      });
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    return (this.#server.address() as AddressInfo).port;
  }

  /** The first message `match` accepts, as it arrives. */
  next(match: (message: string) => boolean, timeoutMs = 15_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(match);
        if (found === undefined) return;
        clearTimeout(timer);
        this.#waiting.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.#waiting.delete(check);
        reject(new Error(`no such syslog message; received:\n${this.messages.join('\n')}`));
      }, timeoutMs);
      this.#waiting.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((done) => this.#server.close(done));
  }
}

/** An RFC 5424 message of the agent's audit log: header, structured data, then the detail. */
const rfc5424 =
  /^<(\d{1,3})>1 (\S+) (\S+) lifeline-agent - (\S+) \[lifeline@32473 seq="(\d+)" actor="([^"]*)" action="([^"]*)" station="([^"]*)" hash="([0-9a-f]{64})"\] (.*)$/s;

describe('CLI writes and the running agent', () => {
  let cluster: Cluster;
  const syslog = new SyslogReceiver();
  const servicePort = 8443;

  const agentCli = (...args: string[]) => runCli([...args, '--data', cluster.agentDir]);
  const agentAudit = async (): Promise<AuditJson[]> =>
    JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as AuditJson[];
  const ofAction = (action: string, service: string) => (message: string) => {
    const match = rfc5424.exec(message);
    return (
      match?.[7] === action && (JSON.parse(match[10] ?? '{}') as { service?: string }).service === service
    );
  };

  before(async () => {
    const port = await syslog.listen();
    cluster = new Cluster();
    await cluster.initHub();
    await cluster.startHub();
    await cluster.enroll();
    appendFileSync(
      join(cluster.agentDir, 'agent.yaml'),
      `audit:\n  syslog:\n    transport: tcp\n    address: 127.0.0.1:${port}\n`,
    );
    await cluster.startAgent();
    // The agent's own entries reach the receiver: export works before the CLI's are looked for.
    await syslog.next((message) => rfc5424.exec(message)?.[7] === 'agent.start');
  });

  after(async () => {
    await cluster?.close();
    await syslog.close();
  });

  test('service add while the agent runs: the agent audits it, and the entry reaches syslog', async () => {
    const result = await agentCli('agent', 'service', 'add', 'web', '--port', String(servicePort));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `Service web -> 127.0.0.1:${servicePort}\n`);
    assert.equal(result.stderr, '');

    const message = await syslog.next(ofAction('service.add', 'web'));
    const [, pri, , , msgId, seq, actor, action, station, hash, detail] = rfc5424.exec(message) ?? [];
    assert.equal(pri, String(13 * 8 + 5), 'facility log audit, severity notice');
    assert.equal(msgId, 'service.add');
    assert.equal(actor, 'admin@127.0.0.1');
    assert.equal(action, 'service.add');
    assert.equal(station, cluster.stationId);
    assert.deepEqual(JSON.parse(detail ?? ''), { service: 'web', host: '127.0.0.1', port: servicePort });
    // The message is the entry of the agent's chain, not a copy made elsewhere.
    const entry = (await agentAudit()).find((e) => e.seq === Number(seq));
    assert.equal(entry?.action, 'service.add');
    assert.equal(entry.hash, hash);
    const services = (await cluster.admin('GET', '/v1/services')) as {
      services: { name: string; port: number }[];
    };
    assert.deepEqual(
      services.services.map((s) => [s.name, s.port]),
      [['web', servicePort]],
    );
    assert.equal(syslog.messages.filter(ofAction('service.add', 'web')).length, 1);
  });

  test('service remove while the agent runs: the same way', async () => {
    const result = await agentCli('agent', 'service', 'remove', 'web');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'Service web removed\n');

    const message = await syslog.next(ofAction('service.remove', 'web'));
    const [, , , , msgId, , actor, , station, , detail] = rfc5424.exec(message) ?? [];
    assert.equal(msgId, 'service.remove');
    assert.equal(actor, 'admin@127.0.0.1');
    assert.equal(station, cluster.stationId);
    assert.deepEqual(JSON.parse(detail ?? ''), { service: 'web' });

    // Removing it again is refused as before, by the agent, and audits nothing.
    const again = await agentCli('agent', 'service', 'remove', 'web');
    assert.equal(again.code, 1);
    assert.equal(again.stdout, '');
    assert.equal(again.stderr, 'lifeline: no service named web (POLICY_SERVICE_UNKNOWN)\n');
    const removals = (await agentAudit()).filter((e) => e.action === 'service.remove');
    assert.equal(removals.length, 1);
  });

  test('with the agent stopped, service add still works and its entry is in the chain', async () => {
    await cluster.stopAgent();
    const result = await agentCli('agent', 'service', 'add', 'ssh', '--port', '22', '--host', 'localhost');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'Service ssh -> 127.0.0.1:22\n');
    assert.equal(result.stderr, '');

    const last = (await agentAudit()).at(-1);
    assert.equal(last?.actor, 'admin@cli');
    assert.equal(last.action, 'service.add');
    assert.deepEqual(last.detail, { service: 'ssh', host: '127.0.0.1', port: 22 });
    const verify = await agentCli('agent', 'audit', '--verify');
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /^Audit log chain verified: \d+ entries/);
    const listed = await agentCli('agent', 'service', 'list', '--json');
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { name: string; host: string; port: number }[]).map((s) => [
        s.name,
        s.host,
        s.port,
      ]),
      [['ssh', '127.0.0.1', 22]],
    );

    // The agent started again serves the service the CLI added, and audits on from that entry.
    await cluster.startAgent();
    const services = (await cluster.admin('GET', '/v1/services')) as { services: { name: string }[] };
    assert.deepEqual(
      services.services.map((s) => s.name),
      ['ssh'],
    );
    const afterRestart = await agentCli('agent', 'audit', '--verify');
    assert.equal(afterRestart.code, 0, afterRestart.stdout + afterRestart.stderr);
  });
});
