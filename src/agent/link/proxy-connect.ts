// An HTTP CONNECT tunnel through the customer's proxy (RFC 9110 §9.3.6): one request, with basic
// authentication when configured, and the status line of the answer decides. On success the socket
// is handed over with any bytes that came after the answer's header block put back, so TLS to the
// hub starts on a clean byte stream. Failures are told apart precisely: the proxy unreachable, the
// proxy asking for authentication (407), the proxy refusing the CONNECT (any other status).

import { connect as netConnect, type Socket } from 'node:net';
import { LifelineError, toLifelineError } from '../../common/errors.js';
import { formatHostPort, type HostPort } from '../../common/net/index.js';
import { currentProxyPassword, describeProxy, type ProxySettings } from './proxy-config.js';

/** The proxy's answer must fit in this much; a proxy sending more is not speaking HTTP to us. */
const maxHeaderBytes = 16 * 1024;

export interface ProxyConnectOptions {
  proxy: ProxySettings;
  /** Where the proxy should connect: the hub endpoint. */
  target: HostPort;
  timeoutMs: number;
  /** A TCP connection to the proxy already open (callhome test connects in a step of its own). */
  socket?: Socket;
}

/** The CONNECT request's bytes; the password is only in the Proxy-Authorization header. */
export function connectRequest(
  target: HostPort,
  proxy: Pick<ProxySettings, 'username' | 'password'>,
): string {
  const authority = formatHostPort(target);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (proxy.username !== undefined) {
    const credentials = Buffer.from(`${proxy.username}:${proxy.password ?? ''}`, 'utf8').toString('base64');
    lines.push(`Proxy-Authorization: Basic ${credentials}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The status code and line of a proxy's answer, or undefined when it is not an HTTP/1.x status line. */
export function parseStatusLine(line: string): { status: number; line: string } | undefined {
  const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(line);
  if (!match?.[1]) return undefined;
  return { status: Number(match[1]), line };
}

/** Opens a TCP connection to the proxy and a CONNECT tunnel through it to the target. */
export function connectThroughProxy(options: ProxyConnectOptions): Promise<Socket> {
  const { proxy, target } = options;
  const proxyName = describeProxy(proxy);
  const targetName = formatHostPort(target);
  return new Promise((resolve, reject) => {
    // The password file is read at every CONNECT: a password changed on disk needs no restart.
    let request: string;
    try {
      request = connectRequest(target, { ...proxy, password: currentProxyPassword(proxy) });
    } catch (err) {
      options.socket?.destroy();
      reject(toLifelineError(err));
      return;
    }
    const socket = options.socket ?? netConnect({ host: proxy.address.host, port: proxy.address.port });
    let connected = false;
    let settled = false;
    let received = Buffer.alloc(0);
    const fail = (error: LifelineError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => {
      fail(
        connected
          ? new LifelineError(
              'PROXY_CONNECT_REFUSED',
              `the proxy ${proxyName} did not answer the CONNECT to ${targetName} within ${options.timeoutMs} ms`,
            )
          : new LifelineError(
              'PROXY_UNREACHABLE',
              `the proxy ${proxyName} is not reachable: no answer within ${options.timeoutMs} ms`,
            ),
      );
    }, options.timeoutMs);
    socket.once('connect', () => {
      connected = true;
      socket.write(request);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Node's message names the error code and the address: "connect ECONNREFUSED 127.0.0.1:3128".
      const why = err.message;
      fail(
        connected
          ? new LifelineError(
              'PROXY_CONNECT_REFUSED',
              `the connection to the proxy ${proxyName} failed during the CONNECT to ${targetName}: ${why}`,
              { cause: err },
            )
          : new LifelineError('PROXY_UNREACHABLE', `the proxy ${proxyName} is not reachable: ${why}`, {
              cause: err,
            }),
      );
    });
    socket.once('close', () =>
      fail(
        new LifelineError(
          'PROXY_CONNECT_REFUSED',
          `the proxy ${proxyName} closed the connection without answering the CONNECT to ${targetName}`,
        ),
      ),
    );
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > maxHeaderBytes)
          fail(
            new LifelineError(
              'PROXY_CONNECT_REFUSED',
              `the proxy ${proxyName} sent more than ${maxHeaderBytes} bytes without ending its answer's headers`,
            ),
          );
        return;
      }
      const firstLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      const parsed = parseStatusLine(firstLine);
      if (!parsed) {
        fail(
          new LifelineError(
            'PROXY_CONNECT_REFUSED',
            `the proxy ${proxyName} did not answer the CONNECT with an HTTP status line (got ${JSON.stringify(firstLine.slice(0, 80))})`,
          ),
        );
        return;
      }
      // 407 is the standard answer; some proxies (tinyproxy) answer wrong credentials with 401.
      if (parsed.status === 407 || parsed.status === 401) {
        fail(
          new LifelineError(
            'PROXY_AUTH_REQUIRED',
            `the proxy ${proxyName} asks for authentication (${parsed.line}): ` +
              (proxy.username === undefined
                ? `no proxy credentials are configured; set proxy.username and proxy.passwordFile in agent.yaml (or the user and password in ${proxy.source === 'HTTPS_PROXY' ? 'HTTPS_PROXY' : 'the proxy URL'})`
                : `the user name "${proxy.username}" or its password is wrong; check proxy.username and proxy.passwordFile in ${proxy.source === 'HTTPS_PROXY' ? 'HTTPS_PROXY' : 'agent.yaml'}`),
          ),
        );
        return;
      }
      if (parsed.status < 200 || parsed.status > 299) {
        fail(
          new LifelineError(
            'PROXY_CONNECT_REFUSED',
            `the proxy ${proxyName} refused the CONNECT to ${targetName}: ${parsed.line}`,
          ),
        );
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      socket.pause();
      // Bytes after the header block already belong to the tunnelled stream (the hub's TLS).
      const rest = received.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    socket.on('data', onData);
    if (options.socket) {
      connected = true;
      socket.write(request);
    }
  });
}
