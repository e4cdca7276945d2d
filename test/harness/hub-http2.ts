// An HTTP/2 client of our own for the hub's ports, for tests that need what the CLI never sends:
// raw streams, other loopback source addresses, many connections held open.

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { alpnCallHome } from '../../src/protocol/index.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  json: Record<string, unknown>;
}

/** An HTTP/2 connection of our own to a hub port, optionally from another loopback address. */
export function connectTo(
  port: number,
  tls: { ca: string; cert?: string; key?: string; localAddress?: string },
): Promise<ClientHttp2Session> {
  const session = h2connect(`https://127.0.0.1:${port}`, {
    createConnection: () =>
      tlsConnect({
        host: '127.0.0.1',
        port,
        ca: tls.ca,
        ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
        ...(tls.localAddress ? { localAddress: tls.localAddress } : {}),
        ALPNProtocols: [alpnCallHome],
      }),
  });
  session.on('error', () => undefined);
  // Extended CONNECT needs the server's SETTINGS first.
  return once(session, 'remoteSettings').then(() => session);
}

/** Reads a whole answer (status, headers, JSON body) of a stream. */
export async function answerOf(stream: ClientHttp2Stream): Promise<Answer> {
  const [headers] = (await once(stream, 'response')) as [Answer['headers']];
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  await once(stream, 'end');
  return {
    status: Number(headers[':status']),
    headers,
    json: text ? (JSON.parse(text) as Answer['json']) : {},
  };
}

export function request(
  session: ClientHttp2Session,
  method: string,
  path: string,
  options: { token?: string; body?: Buffer | string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const stream = session.request({
    ':method': method,
    ':path': path,
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...(options.body !== undefined && typeof options.body === 'string'
      ? { 'content-type': 'application/json' }
      : {}),
    ...options.headers,
  });
  stream.end(options.body);
  return answerOf(stream);
}

/** The bearer token a technician's `lifeline login` stored. */
export const tokenOf = (env: NodeJS.ProcessEnv): string =>
  (JSON.parse(readFileSync(join(env.LIFELINE_HOME ?? '', 'credentials.json'), 'utf8')) as { token: string })
    .token;
