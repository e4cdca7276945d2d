import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { silentLogger } from '../../common/logger.js';
import { printable } from '../../common/printable.js';
import { formatSyslog5424, SyslogSender, type SyslogSenderOptions } from './syslog-export.js';
import { auditEntryHash, genesisHash, type AuditEntry } from '../../protocol/index.js';

const t0 = Date.UTC(2026, 0, 1);

function entry(fields: Partial<Omit<AuditEntry, 'hash'>> = {}): AuditEntry {
  const unhashed = {
    seq: 17,
    atMs: t0 + 1500,
    actor: 'admin',
    action: 'setting.remote',
    detail: { from: false, to: true },
    prevHash: genesisHash,
    ...fields,
  };
  return { ...unhashed, hash: auditEntryHash(unhashed) };
}

const format = { hostname: 'appliance-7', stationId: 'ST-7KQ3-9XPM-4' };

describe('formatSyslog5424', () => {
  test('a notice with the entry in structured data and its detail as JSON', () => {
    const e = entry();
    assert.equal(
      formatSyslog5424(e, format),
      '<109>1 2026-01-01T00:00:01.500Z appliance-7 lifeline-agent - setting.remote ' +
        `[lifeline@32473 seq="17" actor="admin" action="setting.remote" station="ST-7KQ3-9XPM-4" hash="${e.hash}"] ` +
        '{"from":false,"to":true}',
    );
  });

  test('a refusal is a warning; facility and severity can be set', () => {
    const refused = entry({ action: 'session.refused' });
    assert.match(formatSyslog5424(refused, format), /^<108>1 /);
    assert.match(formatSyslog5424(refused, { ...format, facility: 4, severity: 2 }), /^<34>1 /);
    assert.match(formatSyslog5424(entry({ action: 'refused.not' }), format), /^<109>1 /);
    for (const bad of [{ facility: 24 }, { facility: -1 }, { severity: 8 }, { severity: 1.5 }]) {
      assert.throws(() => formatSyslog5424(refused, { ...format, ...bad }), { code: 'CONFIG_INVALID' });
    }
  });

  test('quotes, backslashes and brackets in values are escaped; header fields are printable ASCII', () => {
    const e = entry({
      actor: 'technician:a"b\\c]d',
      action: 'a very long action name with späces and more than 32 characters',
      detail: { note: 'grüße "x" ] \\' },
    });
    const line = formatSyslog5424(e, { ...format, hostname: '', procId: '4711', appName: 'agent x' });
    assert.equal(
      line,
      '<109>1 2026-01-01T00:00:01.500Z - agent_x 4711 a_very_long_action_name_with_sp_ ' +
        '[lifeline@32473 seq="17" actor="technician:a\\"b\\\\c\\]d" ' +
        'action="a very long action name with späces and more than 32 characters" ' +
        `station="ST-7KQ3-9XPM-4" hash="${e.hash}"] {"note":"grüße \\"x\\" ] \\\\"}`,
    );
    assert.notEqual(Buffer.from(line)[0], 0xef, 'no BOM');
  });

  test('a time no four-digit year can show is NILVALUE', () => {
    assert.match(formatSyslog5424(entry({ atMs: 3e14 }), format), /^<109>1 - appliance-7 /);
  });

  test('control characters never reach the receiver: escaped in the detail, U+FFFD in parameters', () => {
    const hostile = '\u001b]0;owned\u0007\u009b2J\u007f\u202e\r\n';
    const line = formatSyslog5424(
      entry({ actor: `technician:${hostile}`, detail: { reason: hostile } }),
      format,
    );
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u202e]/);
    const parsed = parseSyslog5424(line);
    assert.equal(parsed.params.actor, 'technician:\ufffd]0;owned\ufffd\ufffd2J\ufffd\ufffd\ufffd\ufffd');
    assert.deepEqual(JSON.parse(parsed.msg), { reason: hostile });
  });

  test('any actor, action and detail read back from the message (controls in parameters as U+FFFD)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'binary' }),
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
        (actor, action, detail) => {
          const e = entry({ actor, action, detail });
          const parsed = parseSyslog5424(formatSyslog5424(e, format));
          assert.deepEqual(parsed.params, {
            seq: '17',
            actor: printable(actor),
            action: printable(action),
            station: format.stationId,
            hash: e.hash,
          });
          assert.match(parsed.msgId, /^[\x21-\x7e]{1,32}$/);
          assert.equal(JSON.stringify(JSON.parse(parsed.msg)), JSON.stringify(detail));
        },
      ),
      { numRuns: 2000, interruptAfterTimeLimit: 4000 },
    );
  });
});

describe('SyslogSender', () => {
  const lines = (n: number, from = 1): string[] =>
    Array.from({ length: n }, (_, i) =>
      formatSyslog5424(entry({ seq: from + i, detail: { text: `message ${from + i} «ü»` } }), format),
    );
  const sender = (options: Partial<SyslogSenderOptions> & Pick<SyslogSenderOptions, 'transport' | 'port'>) =>
    new SyslogSender({
      host: '127.0.0.1',
      logger: silentLogger(),
      reconnectMinMs: 5,
      reconnectMaxMs: 20,
      ...options,
    });

  test('over UDP each message is one datagram', async () => {
    const receiver = await UdpReceiver.open();
    const syslog = sender({ transport: 'udp', port: receiver.port });
    const sent = lines(3);
    for (const line of sent) syslog.send(line);
    await receiver.waitFor(3);
    assert.deepEqual(receiver.messages, sent);
    await syslog.close();
    assert.deepEqual(syslog.stats, { sent: 3, dropped: 0, errors: 0, queued: 0 });
    receiver.close();
  });

  test('a datagram too large for UDP is counted, and the next one still goes', async () => {
    const receiver = await UdpReceiver.open();
    const syslog = sender({ transport: 'udp', port: receiver.port });
    syslog.send('x'.repeat(70_000));
    syslog.send('after');
    await receiver.waitFor(1);
    assert.deepEqual(receiver.messages, ['after']);
    await syslog.close();
    assert.deepEqual(syslog.stats, { sent: 1, dropped: 1, errors: 1, queued: 0 });
    receiver.close();
  });

  test('over TCP each message is framed by its length in bytes', async () => {
    const receiver = await TcpReceiver.listen();
    const syslog = sender({ transport: 'tcp', port: receiver.port });
    const sent = [...lines(3), `big ${'ü'.repeat(100_000)}`, ''];
    for (const line of sent) syslog.send(line);
    await receiver.waitFor(sent.length);
    assert.deepEqual(receiver.messages, sent);
    await syslog.close();
    assert.deepEqual(syslog.stats, { sent: sent.length, dropped: 0, errors: 0, queued: 0 });
    await receiver.close();
  });

  test('a TCP receiver that restarts still gets the later messages', async () => {
    const first = await TcpReceiver.listen();
    const { port } = first;
    const syslog = sender({ transport: 'tcp', port });
    for (const line of lines(3)) syslog.send(line);
    await first.waitFor(3);
    await first.close();
    const second = await TcpReceiver.listen(port);
    await second.connected;
    for (const line of lines(3, 4)) syslog.send(line);
    await second.waitFor(3);
    assert.deepEqual(second.messages, lines(3, 4));
    await syslog.close();
    assert.equal(syslog.stats.sent, 6);
    await second.close();
  });

  test('messages wait while no receiver listens, the oldest dropped past the bound', async () => {
    const port = await freePort();
    const syslog = sender({ transport: 'tcp', port, maxQueuedMessages: 3 });
    for (const line of lines(10)) syslog.send(line);
    assert.deepEqual(syslog.stats, { sent: 0, dropped: 7, errors: 0, queued: 3 });
    const closed = syslog.close();
    syslog.send('after close');
    const receiver = await TcpReceiver.listen(port);
    await closed;
    await receiver.waitFor(3);
    assert.deepEqual(receiver.messages, lines(3, 8));
    const { sent, dropped, queued } = syslog.stats;
    assert.deepEqual({ sent, dropped, queued }, { sent: 3, dropped: 8, queued: 0 });
    await receiver.close();
  });

  test('a receiver slower than the sender fills the bounded queue, not memory', async () => {
    const receiver = await TcpReceiver.listen();
    const syslog = sender({ transport: 'tcp', port: receiver.port, maxQueuedMessages: 10 });
    await receiver.connected;
    const sent = Array.from({ length: 2000 }, (_, i) => `${i} ${'x'.repeat(10_000)}`);
    for (const line of sent) syslog.send(line);
    const stats = syslog.stats;
    assert.equal(stats.sent + stats.dropped + stats.queued, sent.length);
    // Queued counts what the socket holds before its high-water mark (16 KiB) says stop.
    assert.ok(stats.queued <= 10 + 2, `queued ${stats.queued}`);
    await syslog.close();
    await receiver.waitFor(syslog.stats.sent);
    const numbers = receiver.messages.map((message) => Number(message.split(' ')[0]));
    assert.deepEqual(
      numbers,
      [...numbers].sort((a, b) => a - b),
      'in order',
    );
    assert.equal(numbers.at(-1), sent.length - 1, 'the newest is kept');
    await receiver.close();
  });

  test('close drains what is queued, and is idempotent', async () => {
    const tcp = await TcpReceiver.listen();
    const udp = await UdpReceiver.open();
    // Fewer datagrams: a burst larger than the receiver's socket buffer is lost, as UDP may.
    const cases = [
      { syslog: sender({ transport: 'tcp', port: tcp.port }), receiver: tcp, sent: lines(1000) },
      { syslog: sender({ transport: 'udp', port: udp.port }), receiver: udp, sent: lines(100) },
    ];
    for (const { syslog, receiver, sent } of cases) {
      for (const line of sent) syslog.send(line);
      const closing = syslog.close();
      assert.equal(syslog.close(), closing);
      await closing;
      assert.deepEqual(syslog.stats, { sent: sent.length, dropped: 0, errors: 0, queued: 0 });
      await receiver.waitFor(sent.length);
      assert.deepEqual(receiver.messages, sent);
    }
    await tcp.close();
    udp.close();
  });

  test('destroy counts what is left as dropped and ends a pending close', async () => {
    const syslog = sender({ transport: 'tcp', port: await freePort() });
    for (const line of lines(4)) syslog.send(line);
    const closed = syslog.close();
    syslog.destroy();
    await closed;
    assert.deepEqual({ ...syslog.stats, errors: 0 }, { sent: 0, dropped: 4, errors: 0, queued: 0 });
  });

  test('a port out of range or an empty queue is a configuration error', () => {
    assert.throws(() => sender({ transport: 'udp', port: 0 }), { code: 'CONFIG_INVALID' });
    assert.throws(() => sender({ transport: 'udp', port: 514, maxQueuedMessages: 0 }), {
      code: 'CONFIG_INVALID',
    });
  });
});

/** A minimal RFC 5424 reader for what formatSyslog5424 writes: one SD-ELEMENT, then MSG. */
function parseSyslog5424(line: string): { msgId: string; params: Record<string, string>; msg: string } {
  const header = /^<\d{1,3}>1 \S+ \S+ \S+ \S+ (\S+) \[lifeline@32473/.exec(line);
  assert.ok(header?.[1], line);
  const params: Record<string, string> = {};
  let at = header[0].length;
  while (line[at] === ' ') {
    const name = /^ ([^= \]"]+)="/.exec(line.slice(at));
    assert.ok(name?.[1], line);
    at += name[0].length;
    let value = '';
    for (let char = line[at]; char !== '"'; char = line[at]) {
      if (char === '\\' && ['"', '\\', ']'].includes(line[at + 1] ?? '')) at++;
      else assert.notEqual(char, ']', 'an unescaped ] in a value');
      value += line[at] ?? assert.fail('the value does not end');
      at++;
    }
    params[name[1]] = value;
    at++;
  }
  assert.equal(line.slice(at, at + 2), '] ');
  return { msgId: header[1], params, msg: line.slice(at + 2) };
}

class UdpReceiver extends EventEmitter<{ message: [] }> {
  readonly messages: string[] = [];
  readonly #socket = createSocket('udp4');

  static async open(): Promise<UdpReceiver> {
    const receiver = new UdpReceiver();
    receiver.#socket.on('message', (data) => {
      receiver.messages.push(data.toString('utf8'));
      receiver.emit('message');
    });
    receiver.#socket.bind(0, '127.0.0.1');
    await once(receiver.#socket, 'listening');
    return receiver;
  }

  get port(): number {
    return this.#socket.address().port;
  }

  async waitFor(count: number): Promise<void> {
    while (this.messages.length < count) await once(this, 'message');
  }

  close(): void {
    this.#socket.close();
  }
}

/** Reads octet-counted frames (RFC 6587): MSG-LEN, a space, then MSG-LEN bytes. */
class TcpReceiver extends EventEmitter<{ message: [] }> {
  readonly messages: string[] = [];
  readonly connected: Promise<unknown>;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor() {
    super();
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      let buffered = Buffer.alloc(0);
      socket.on('data', (data: Buffer) => {
        buffered = Buffer.concat([buffered, data]);
        for (;;) {
          const space = buffered.indexOf(0x20);
          if (space < 0) break;
          const length = buffered.subarray(0, space).toString('latin1');
          assert.match(length, /^[1-9]\d*$|^0$/, 'MSG-LEN');
          const end = space + 1 + Number(length);
          if (buffered.length < end) break;
          this.messages.push(buffered.subarray(space + 1, end).toString('utf8'));
          buffered = buffered.subarray(end);
          this.emit('message');
        }
      });
    });
    this.connected = once(this.#server, 'connection');
  }

  static async listen(port = 0): Promise<TcpReceiver> {
    const receiver = new TcpReceiver();
    receiver.#server.listen(port, '127.0.0.1');
    await once(receiver.#server, 'listening');
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async waitFor(count: number): Promise<void> {
    while (this.messages.length < count) await once(this, 'message');
  }

  async close(): Promise<void> {
    const closed = once(this.#server, 'close');
    this.#server.close();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}

/** A port nobody listens on (for now): bound, then released. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
