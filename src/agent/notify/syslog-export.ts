// Sends audit entries to the customer's SIEM as RFC 5424 syslog messages, over UDP (RFC 5426, one
// message per datagram) or TCP with octet-counting framing (RFC 6587). Delivery is best effort: a
// bounded queue rides out an outage, dropping the oldest message first, and every drop is counted.
// The seq and hash in each message let the SIEM spot a gap and serve as a checkpoint of the log.
// No message carries a control character (a technician's reason, a station's text): the detail is
// JSON with every control escaped; a parameter value, which has no escape for one, shows it as
// U+FFFD.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, isIPv6, type Socket } from 'node:net';
import { Backoff } from '../../common/backoff.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { printable, stringifyPrintable } from '../../common/printable.js';
import type { AuditEntry } from '../../protocol/index.js';

/** IANA's example enterprise number (RFC 5612); SD-IDs with it are unique only within Lifeline. */
export const syslogSdId = 'lifeline@32473';

export interface SyslogFormatOptions {
  hostname: string;
  stationId: string;
  appName?: string;
  procId?: string;
  /** 0..23; default 13, log audit. */
  facility?: number;
  /** 0..7; default from the action: refusals are warnings (4), everything else a notice (5). */
  severity?: number;
}

export function formatSyslog5424(entry: AuditEntry, options: SyslogFormatOptions): string {
  const facility = options.facility ?? 13;
  const severity = options.severity ?? severityOfAction(entry.action);
  if (!(Number.isInteger(facility) && facility >= 0 && facility <= 23)) {
    throw new LifelineError('CONFIG_INVALID', `syslog facility must be 0 to 23, not ${facility}`);
  }
  if (!(Number.isInteger(severity) && severity >= 0 && severity <= 7)) {
    throw new LifelineError('CONFIG_INVALID', `syslog severity must be 0 to 7, not ${severity}`);
  }
  const header = [
    `<${facility * 8 + severity}>1`,
    syslogTimestamp(entry.atMs),
    headerField(options.hostname, 255),
    headerField(options.appName ?? 'lifeline-agent', 48),
    headerField(options.procId ?? '', 128),
    headerField(entry.action, 32),
  ].join(' ');
  const params: [string, string][] = [
    ['seq', String(entry.seq)],
    ['actor', entry.actor],
    ['action', entry.action],
    ['station', options.stationId],
    ['hash', entry.hash],
  ];
  const sd = `[${syslogSdId}${params.map(([name, value]) => ` ${name}="${escapeParamValue(value)}"`).join('')}]`;
  // MSG without a BOM is MSG-ANY; JSON.stringify escapes lone surrogates, so it is valid UTF-8.
  return `${header} ${sd} ${stringifyPrintable(entry.detail)}`;
}

export function severityOfAction(action: string): number {
  return /(^|\.)refused$/.test(action) ? 4 : 5;
}

/** PARAM-VALUE escapes exactly '"', '\' and ']' (RFC 5424 section 6.3.3), and nothing else. */
function escapeParamValue(value: string): string {
  return printable(value).replace(/["\\\]]/g, '\\$&');
}

/** Header fields are 1 to `maxChars` printable US-ASCII characters, or NILVALUE. */
function headerField(value: string, maxChars: number): string {
  const printable = value.replace(/[^\x21-\x7e]/g, '_').slice(0, maxChars);
  return printable === '' ? '-' : printable;
}

/** RFC 5424 allows only four-digit years; a time outside them (a tampered row) is NILVALUE. */
function syslogTimestamp(atMs: number): string {
  const date = new Date(atMs);
  const year = date.getUTCFullYear();
  return Number.isNaN(year) || year < 0 || year > 9999 ? '-' : date.toISOString();
}

export interface SyslogSenderOptions {
  transport: 'udp' | 'tcp';
  host: string;
  port: number;
  logger: Logger;
  clock?: Clock;
  /** Messages waiting while the SIEM is away or slow; the oldest go first. Default 1000. */
  maxQueuedMessages?: number;
  connectTimeoutMs?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** Every message given to send() is counted once: sent, dropped, or still queued. */
export interface SyslogStats {
  sent: number;
  dropped: number;
  errors: number;
  queued: number;
}

interface TcpConnection {
  socket: Socket;
  ready: boolean;
  ending: boolean;
  closed: boolean;
  /** Written to the socket but not yet flushed to the kernel; requeued if the connection fails. */
  inFlight: string[];
}

export class SyslogSender {
  readonly #options: Required<Omit<SyslogSenderOptions, 'logger' | 'clock'>>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #queue: string[] = [];
  #sent = 0;
  #dropped = 0;
  #errors = 0;
  #failing = false;
  #dropping = false;
  #tcp: TcpConnection | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #udp: UdpSocket | undefined;
  #udpBusy = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #destroyed = false;

  constructor(options: SyslogSenderOptions) {
    if (!(Number.isInteger(options.port) && options.port > 0 && options.port < 65536)) {
      throw new LifelineError('CONFIG_INVALID', `syslog port must be 1 to 65535, not ${options.port}`);
    }
    const maxQueued = options.maxQueuedMessages ?? 1000;
    if (!(Number.isInteger(maxQueued) && maxQueued > 0)) {
      throw new LifelineError(
        'CONFIG_INVALID',
        `the syslog queue must hold at least 1 message, not ${maxQueued}`,
      );
    }
    this.#options = {
      transport: options.transport,
      host: options.host,
      port: options.port,
      maxQueuedMessages: maxQueued,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      reconnectMinMs: options.reconnectMinMs ?? 500,
      reconnectMaxMs: options.reconnectMaxMs ?? 30_000,
    };
    this.#logger = options.logger.child({ syslog: `${options.transport}://${options.host}:${options.port}` });
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff({ minMs: this.#options.reconnectMinMs, maxMs: this.#options.reconnectMaxMs });
    if (options.transport === 'tcp') this.#connect();
  }

  get stats(): SyslogStats {
    const inFlight = (this.#tcp?.inFlight.length ?? 0) + (this.#udpBusy ? 1 : 0);
    return {
      sent: this.#sent,
      dropped: this.#dropped,
      errors: this.#errors,
      queued: this.#queue.length + inFlight,
    };
  }

  /** Queues one formatted message; never throws. After close() or destroy() the message is dropped. */
  send(line: string): void {
    if (this.#closing || this.#destroyed) {
      this.#dropped++;
      return;
    }
    try {
      this.#enqueue([line]);
      this.#pump();
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Sends what is queued, reconnecting if need be, then closes. Idempotent; destroy() cuts it short. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closing = true;
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#finishIfDrained();
    return this.#closed;
  }

  /** Closes at once; whatever is still queued counts as dropped. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearTimeout(this.#retryTimer);
    this.#dropped += this.stats.queued;
    this.#queue.length = 0;
    if (this.#tcp) this.#tcp.inFlight.length = 0;
    this.#tcp?.socket.destroy();
    this.#udp?.close();
    this.#resolveClosed?.();
  }

  #enqueue(lines: string[], atFront = false): void {
    if (atFront) this.#queue.unshift(...lines);
    else this.#queue.push(...lines);
    const excess = this.#queue.length - this.#options.maxQueuedMessages;
    if (excess <= 0) return;
    this.#queue.splice(0, excess);
    this.#dropped += excess;
    if (!this.#dropping)
      this.#logger.warn(
        { maxQueuedMessages: this.#options.maxQueuedMessages },
        'syslog queue full: dropping the oldest messages',
      );
    this.#dropping = true;
  }

  #pump(): void {
    if (this.#destroyed) return;
    if (this.#options.transport === 'tcp') this.#pumpTcp();
    else this.#pumpUdp();
    if (this.#queue.length === 0) this.#dropping = false;
    this.#finishIfDrained();
  }

  #pumpTcp(): void {
    const connection = this.#tcp;
    if (!connection?.ready || connection.socket.writableNeedDrain) return;
    for (let line = this.#queue.shift(); line !== undefined; line = this.#queue.shift()) {
      connection.inFlight.push(line);
      const frame = `${Buffer.byteLength(line)} ${line}`;
      const more = connection.socket.write(frame, (err) => this.#written(connection, err));
      if (!more) return;
    }
  }

  #written(connection: TcpConnection, err: Error | null | undefined): void {
    // A failed write stays in flight: the socket's 'close' puts it back in the queue.
    if (err || connection.closed || this.#destroyed) return;
    connection.inFlight.shift();
    this.#sent++;
    this.#finishIfDrained();
  }

  #connect(): void {
    const { host, port, connectTimeoutMs } = this.#options;
    const socket = connect({ host, port, noDelay: true });
    const connection: TcpConnection = { socket, ready: false, ending: false, closed: false, inFlight: [] };
    this.#tcp = connection;
    socket.setTimeout(connectTimeoutMs, () => socket.destroy(new Error('connection timed out')));
    socket.on('connect', () => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      connection.ready = true;
      this.#backoff.reset();
      if (this.#failing) this.#logger.info({ dropped: this.#dropped }, 'syslog receiver reachable again');
      this.#failing = false;
      this.#pump();
    });
    socket.on('drain', () => this.#pump());
    socket.on('data', () => undefined); // a receiver has nothing to say; read and discard
    socket.on('end', () => {
      connection.ready = false; // the receiver hung up: write nothing more to this socket
    });
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#onTcpClose(connection));
  }

  #onTcpClose(connection: TcpConnection): void {
    connection.ready = false;
    connection.closed = true;
    if (this.#tcp === connection) this.#tcp = undefined;
    if (this.#destroyed) return;
    this.#enqueue(connection.inFlight.splice(0), true);
    if (this.#finishIfDrained()) return;
    const delayMs = this.#backoff.nextDelayMs(this.#clock.now());
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#destroyed) this.#connect();
    }, delayMs);
  }

  #pumpUdp(): void {
    if (this.#udpBusy) return;
    const line = this.#queue.shift();
    if (line === undefined) return;
    const { host, port } = this.#options;
    let socket = this.#udp;
    if (!socket) {
      const created = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
      created.on('error', (err) => {
        this.#fail(err);
        if (this.#udp === created) this.#udp = undefined;
        created.close();
      });
      this.#udp = socket = created;
    }
    this.#udpBusy = true;
    try {
      socket.send(line, port, host, (err) => this.#sentDatagram(err));
    } catch (err) {
      this.#sentDatagram(err as Error);
    }
  }

  /** One datagram at a time: the queue, not the socket, is where messages wait, so it stays bounded. */
  #sentDatagram(err: Error | null): void {
    if (this.#destroyed) return; // destroy() counted it as dropped
    this.#udpBusy = false;
    if (err) {
      this.#dropped++;
      this.#fail(err);
    } else {
      this.#sent++;
      this.#failing = false;
    }
    this.#pump();
  }

  #fail(err: unknown): void {
    this.#errors++;
    if (!this.#failing) this.#logger.warn({ err }, 'cannot send to the syslog receiver');
    this.#failing = true;
  }

  /** Resolves close() once nothing is queued or in flight; returns true if the sender is done. */
  #finishIfDrained(): boolean {
    if (this.#destroyed) this.#resolveClosed?.();
    if (!this.#closing || this.#destroyed) return this.#destroyed;
    if (this.#queue.length > 0 || this.#udpBusy || (this.#tcp?.inFlight.length ?? 0) > 0) return false;
    const connection = this.#tcp;
    if (connection?.ending) return false;
    if (connection?.ready) {
      connection.ready = false;
      connection.ending = true;
      connection.socket.end(); // its 'close' comes back here with no connection left
      return false;
    }
    clearTimeout(this.#retryTimer);
    this.#tcp?.socket.destroy();
    this.#udp?.close();
    this.#udp = undefined;
    this.#destroyed = true;
    this.#resolveClosed?.();
    return true;
  }
}
