// The technician's commands: log in to the hub, list stations, connect to a station's service.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  connect as h2connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import type { Command } from 'commander';
import { formatDurationMs, parseDurationMs } from '../common/config/index.js';
import { answerError, readAnswer } from '../common/net/index.js';
import { LifelineError, toLifelineError } from '../common/errors.js';
import { ensurePrivateDirectory, formatMode, writePrivateFile } from '../common/disk/index.js';
import { formatHostPort, isLoopbackHost, parseHostPort } from '../common/net/index.js';
import {
  header,
  http2SessionWindowBytes,
  http2Settings,
  parseStationId,
  probeHeaderValue,
  sessionProtocol,
  type ProbeKind,
  technicianConnectPath,
} from '../protocol/index.js';
import { ago, printError, printJson, printLine, printTable, readStdin, tty } from './io.js';

interface Credentials {
  hub: string;
  user: string;
  token: string;
  expiresAt: string;
  caPem: string | null;
}

function credentialsPath(): string {
  const home = process.env.LIFELINE_HOME ?? join(homedir(), '.config', 'lifeline');
  return join(home, 'credentials.json');
}

function loadCredentials(): Credentials {
  let credentials: Credentials;
  try {
    credentials = JSON.parse(readFileSync(credentialsPath(), 'utf8')) as Credentials;
  } catch {
    throw new LifelineError(
      'AUTH_REQUIRED',
      'not logged in: run lifeline login --hub URL --user NAME --password-stdin',
    );
  }
  // The hub refuses an expired token too; saying so here spares a round trip and names the time.
  if (Date.parse(credentials.expiresAt) <= Date.now()) {
    throw new LifelineError(
      'AUTH_REQUIRED',
      `the login to ${credentials.hub} expired at ${credentials.expiresAt}: log in again (lifeline login --hub ${credentials.hub} --user ${credentials.user} --password-stdin)`,
    );
  }
  return credentials;
}

function openHub(credentials: Pick<Credentials, 'hub' | 'caPem'>): ClientHttp2Session {
  const url = new URL(credentials.hub);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const session = h2connect(credentials.hub, {
    settings: http2Settings,
    // Our own socket, so that Nagle's delay is off for interactive sessions.
    createConnection: () => {
      const socket = tlsConnect({
        host,
        port: Number(url.port || 443),
        ...(isIP(host) ? {} : { servername: host }),
        ...(credentials.caPem ? { ca: credentials.caPem } : {}),
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.2',
      });
      socket.setNoDelay(true);
      return socket;
    },
  });
  session.once('connect', () => session.setLocalWindowSize(http2SessionWindowBytes));
  return session;
}

async function requestJson<T>(
  session: ClientHttp2Session,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) =>
      reject(new LifelineError('API_UNREACHABLE', `cannot reach the hub: ${err.message}`, { cause: err }));
    session.once('error', onError);
    const stream = session.request({
      ':method': method,
      ':path': path,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', onError);
    stream.on('end', () => {
      session.removeListener('error', onError);
      try {
        resolve(readAnswer<T>(status, Buffer.concat(chunks).toString('utf8'), 'the hub'));
      } catch (err) {
        reject(toLifelineError(err));
      }
    });
    stream.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Opens one session stream; resolves when the agent accepted, rejects with the agent's reason. */
function openSession(
  session: ClientHttp2Session,
  credentials: Credentials,
  stationId: string,
  service: string,
  reason: string | undefined,
  probe?: ProbeKind,
): Promise<ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      {
        ':method': 'CONNECT',
        ':protocol': sessionProtocol,
        ':scheme': 'https',
        ':path': technicianConnectPath(stationId, service),
        authorization: `Bearer ${credentials.token}`,
        ...(reason ? { [header.reason]: encodeURIComponent(reason) } : {}),
        ...(probe ? { [header.probe]: probeHeaderValue(probe) } : {}),
      },
      { endStream: false },
    );
    stream.once('error', (err: Error) =>
      reject(new LifelineError('TUNNEL_LOST', `session stream failed: ${err.message}`, { cause: err })),
    );
    stream.once('response', (headers) => {
      const status = Number(headers[':status']);
      if (status === 200 || status === 204) {
        resolve(stream);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('end', () =>
        reject(answerError(status, Buffer.concat(chunks).toString('utf8'), 'the hub')),
      );
    });
  });
}

/** Relays a local socket (or stdin/stdout) over an accepted session stream; resolves with the end message. */
function relay(
  stream: ClientHttp2Stream,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<{ reason: string; message: string }> {
  return new Promise((resolve) => {
    let end = { reason: 'tunnel-lost', message: 'the connection to the hub was lost' };
    stream.on('trailers', (trailers: IncomingHttpHeaders) => {
      const reason = trailers[header.endReason];
      const message = trailers[header.endMessage];
      if (typeof reason === 'string')
        end = { reason, message: typeof message === 'string' ? message : reason };
      // Stopped, tunnel lost, access revoked: the session is over in both directions.
      if (end.reason !== 'closed') stream.close(h2.NGHTTP2_NO_ERROR);
    });
    input.pipe(stream);
    stream.pipe(output);
    stream.once('close', () => {
      input.unpipe(stream);
      resolve(end);
    });
  });
}

interface SessionTarget {
  session: ClientHttp2Session;
  credentials: Credentials;
  stationId: string;
  service: string;
  reason: string | undefined;
}

/**
 * With --wait: a first check counts as the technician's attempt (and creates the access request);
 * while the request is pending, the check is repeated every 2 s as a poll that the appliance does
 * not count again, until it is accepted, rejected, or the wait runs out.
 */
async function waitForAccess(target: SessionTarget, waitMs: number): Promise<void> {
  const check = async (kind: ProbeKind) => {
    const stream = await openSession(
      target.session,
      target.credentials,
      target.stationId,
      target.service,
      target.reason,
      kind,
    );
    stream.close(h2.NGHTTP2_NO_ERROR);
  };
  try {
    await check('check');
    return;
  } catch (err) {
    if (!(err instanceof LifelineError) || err.code !== 'POLICY_PENDING_APPROVAL') throw err;
    printError(tty`lifeline: ${err.message}; waiting for the decision (Ctrl-C to give up)`);
  }
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    try {
      await check('wait');
      printError(tty`lifeline: access request accepted`);
      return;
    } catch (err) {
      if (!(err instanceof LifelineError)) throw err;
      // The hub limits how often one user may ask: waiting goes on, a little slower.
      if (err.code === 'API_LIMIT_REACHED') {
        printError(tty`lifeline: ${err.message}; still waiting for the decision`);
        await new Promise((resolve) => setTimeout(resolve, 5000));
        continue;
      }
      if (err.code !== 'POLICY_PENDING_APPROVAL') throw err;
    }
  }
  throw new LifelineError(
    'POLICY_PENDING_APPROVAL',
    `no decision on the access request within ${formatDurationMs(waitMs)}`,
  );
}

export function registerTechnicianCommands(program: Command): void {
  program
    .command('login')
    .description('log in to a hub; the token is kept under $LIFELINE_HOME (default ~/.config/lifeline)')
    .requiredOption('--hub <url>', 'technician API URL, e.g. https://hub.example.com:8444')
    .requiredOption('--user <name>', 'user name')
    .requiredOption('--password-stdin', 'read the password from standard input')
    .option('--ca-file <file>', "the hub's CA certificate (ca.pem from lifeline hub init)")
    .option('--totp <code>', 'the current code of your authenticator app (users enrolled in TOTP)')
    .action(async (opts: { hub: string; user: string; caFile?: string; totp?: string }) => {
      const url = new URL(opts.hub);
      if (url.protocol !== 'https:')
        throw new LifelineError('API_BAD_REQUEST', '--hub: expected an https:// URL');
      const password = await readStdin('password');
      const caPem = opts.caFile ? readFileSync(opts.caFile, 'utf8') : null;
      const hub = url.origin;
      const session = openHub({ hub, caPem });
      try {
        const result = await requestJson<{
          token: string;
          expiresAt: string;
          user: string;
          groups: string[];
          amr?: string[];
        }>(session, 'POST', '/v1/login', undefined, {
          user: opts.user,
          password,
          ...(opts.totp !== undefined ? { totp: opts.totp } : {}),
        });
        const path = credentialsPath();
        // $LIFELINE_HOME holds the login token: only its owner may enter it, however it was made.
        const home = dirname(path);
        const homeTightenedFrom = ensurePrivateDirectory(home);
        if (homeTightenedFrom !== undefined)
          printError(
            tty`note: ${home} is now 0700 (it was ${formatMode(homeTightenedFrom)}): it holds your login token`,
          );
        const credentials: Credentials = {
          hub,
          user: result.user,
          token: result.token,
          expiresAt: result.expiresAt,
          caPem,
        };
        writePrivateFile(path, JSON.stringify(credentials, null, 2) + '\n', true);
        const strength = result.amr?.includes('otp') ? 'password and TOTP' : 'password';
        printLine(
          tty`Logged in to ${hub} as ${result.user} (groups: ${result.groups.join(', ') || 'none'}; with ${strength}) until ${result.expiresAt}`,
        );
      } finally {
        session.close();
      }
    });

  program
    .command('stations')
    .description('stations known to the hub')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const credentials = loadCredentials();
      const session = openHub(credentials);
      try {
        const result = await requestJson<{
          stations: { stationId: string; name: string; online: boolean; lastSeen: string | null }[];
        }>(session, 'GET', '/v1/stations', credentials.token);
        if (opts.json) printJson(result.stations);
        else
          printTable(
            result.stations.map((s) => ({
              station: s.stationId,
              name: s.name,
              state: s.online ? 'online' : 'offline',
              'last seen': s.online ? 'now' : ago(s.lastSeen),
            })),
            ['station', 'name', 'state', 'last seen'],
          );
      } finally {
        session.close();
      }
    });

  program
    .command('connect <station>')
    .description("open service sessions to a station's service through its tunnel")
    .requiredOption('--service <name>', 'the named service of the appliance, e.g. ssh or web')
    .option('--listen <host:port>', 'forward every connection to this local port as its own session')
    .option(
      '--allow-remote',
      'let --listen take an address other machines reach (not 127.0.0.0/8, ::1 or localhost): whoever connects to it gets a session as you',
    )
    .option('--stdio', 'carry one session on standard input and output (for ssh ProxyCommand)')
    .option('--reason <text>', 'reason or case number, shown to the appliance administrator')
    .option('--wait [duration]', 'if access needs approval, wait for the decision (default up to 30m)')
    .action(
      async (
        station: string,
        opts: {
          service: string;
          listen?: string;
          allowRemote?: boolean;
          stdio?: boolean;
          reason?: string;
          wait?: string | boolean;
        },
      ) => {
        const stationId = parseStationId(station);
        if (Boolean(opts.listen) === Boolean(opts.stdio)) {
          throw new LifelineError('API_BAD_REQUEST', 'give exactly one of --listen HOST:PORT or --stdio');
        }
        const listen = opts.listen === undefined ? undefined : parseHostPort(opts.listen, '--listen');
        // Every connection to the port becomes a session with this technician's identity: only
        // this machine may reach it, unless the technician says otherwise.
        if (listen && !isLoopbackHost(listen.host) && !opts.allowRemote) {
          throw new LifelineError(
            'API_BAD_REQUEST',
            `--listen ${formatHostPort(listen)} is not a loopback address: anyone who can reach it would get a session to ${opts.service} on ${stationId} as you. Listen on 127.0.0.1 (or ::1, localhost), or add --allow-remote if that is what you want`,
          );
        }
        const credentials = loadCredentials();
        const session = openHub(credentials);
        session.on('error', () => undefined);
        const target = { session, credentials, stationId, service: opts.service, reason: opts.reason };
        if (opts.wait !== undefined) {
          const waitMs = typeof opts.wait === 'string' ? parseDurationMs(opts.wait, '--wait') : 30 * 60_000;
          await waitForAccess(target, waitMs).catch((err: unknown) => {
            session.close();
            throw err;
          });
        }
        if (opts.stdio) {
          let stream: ClientHttp2Stream;
          try {
            stream = await openSession(session, credentials, stationId, opts.service, opts.reason);
          } catch (err) {
            session.close();
            throw err;
          }
          const end = await relay(stream, process.stdin, process.stdout);
          session.close();
          if (end.reason !== 'closed') {
            printError(tty`lifeline: session ended: ${end.message}`);
            process.exitCode = 1;
          }
          return;
        }
        if (opts.wait === undefined) {
          // Check ticket, policy and service once before listening, so a refusal is seen at once.
          const check = await openSession(
            session,
            credentials,
            stationId,
            opts.service,
            opts.reason,
            'check',
          ).catch((err: unknown) => {
            session.close();
            throw err;
          });
          check.close(h2.NGHTTP2_NO_ERROR);
        }
        if (!listen) return; // --stdio, which returned above
        // The hub closes a connection that carries no session for a while (its idle limit), and a
        // hub restart closes it too: the next local connection then opens a new one.
        let hub = session;
        const hubSession = (): ClientHttp2Session => {
          if (hub.closed || hub.destroyed) {
            hub = openHub(credentials);
            hub.on('error', () => undefined);
          }
          return hub;
        };
        const server = createServer((socket: Socket) => {
          socket.setNoDelay(true);
          socket.pause();
          openSession(hubSession(), credentials, stationId, opts.service, opts.reason)
            .then(async (stream) => {
              socket.resume();
              const end = await relay(stream, socket, socket);
              if (end.reason !== 'closed') printError(tty`lifeline: session ended: ${end.message}`);
            })
            .catch((err: unknown) => {
              const code = err instanceof LifelineError ? ` (${err.code})` : '';
              printError(tty`lifeline: session refused: ${(err as Error).message}${code}`);
              socket.destroy();
            });
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(listen.port, listen.host, () => resolve());
        });
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : listen.port;
        if (!isLoopbackHost(listen.host))
          printError(
            tty`warning: --allow-remote: anyone who can reach ${formatHostPort({ host: listen.host, port })} on this machine's network can use these sessions to ${opts.service} on ${stationId}, with your identity (${credentials.user}); the appliance audits each of them as ${credentials.user}`,
          );
        printError(
          tty`Forwarding ${formatHostPort({ host: listen.host, port })} to ${opts.service} on ${stationId}; Ctrl-C to stop`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        server.close();
        hub.close();
      },
    );
}
