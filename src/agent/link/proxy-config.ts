// The customer's HTTP CONNECT proxy: agent.yaml `proxy: { url, username?, passwordFile? }`, or the
// standard HTTPS_PROXY / NO_PROXY variables when the file sets none. The password is read from its
// file (or the variable's URL) and is never part of anything printed: `describe()` omits it.

import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import { formatHostPort, type HostPort } from '../../common/net/index.js';

export const proxyConfigSchema = z
  .object({
    /** http://HOST:PORT of the proxy; no user name or password in it (they go below). */
    url: z.string().refine((v) => parseProxyUrl(v, false) !== undefined, {
      message: 'expected http://HOST:PORT of an HTTP proxy, without user, password or path',
    }),
    username: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^:\s]+$/, 'expected a user name without ":" or white space')
      .optional(),
    /** File holding the proxy password (kept out of agent.yaml); relative to the data directory. */
    passwordFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((p) => (p.username === undefined) === (p.passwordFile === undefined), {
    message: 'expected both username and passwordFile, or neither',
    path: ['passwordFile'],
  });

export type ProxyConfig = z.infer<typeof proxyConfigSchema>;

/** A proxy the agent dials through, credentials resolved. */
export interface ProxySettings {
  address: HostPort;
  username?: string;
  /** The password as read at start (see currentProxyPassword for the one to send). */
  password?: string;
  /** The absolute path of agent.yaml's proxy.passwordFile, read again at every CONNECT. */
  passwordFile?: string;
  /** Where the setting came from, for status and errors. */
  source: 'agent.yaml' | 'HTTPS_PROXY';
  /** Hosts that are dialled directly (NO_PROXY); empty when the file configures the proxy. */
  noProxy: readonly string[];
}

/** http://HOST:PORT without userinfo, for status and logs. */
export function describeProxy(proxy: ProxySettings): string {
  return `http://${formatHostPort(proxy.address)}`;
}

/**
 * The proxy in force: agent.yaml's `proxy`, else HTTPS_PROXY / https_proxy (with NO_PROXY /
 * no_proxy). Undefined when neither is set.
 */
export function resolveProxy(
  config: ProxyConfig | undefined,
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): ProxySettings | undefined {
  if (config) {
    const parsed = parseProxyUrl(config.url, false);
    if (!parsed) throw new LifelineError('CONFIG_INVALID', 'proxy.url: expected http://HOST:PORT');
    return {
      address: parsed.address,
      ...(config.username !== undefined ? { username: config.username } : {}),
      // Read now too, so that a missing or empty file stops the agent at start with the reason.
      ...(config.passwordFile !== undefined
        ? {
            password: readPasswordFile(passwordPath(config.passwordFile, dataDir)),
            passwordFile: passwordPath(config.passwordFile, dataDir),
          }
        : {}),
      source: 'agent.yaml',
      noProxy: [],
    };
  }
  const text = env.HTTPS_PROXY ?? env.https_proxy;
  if (text === undefined || text.trim() === '') return undefined;
  const parsed = parseProxyUrl(text.trim(), true);
  if (!parsed)
    throw new LifelineError(
      'CONFIG_INVALID',
      'HTTPS_PROXY: expected http://[USER:PASSWORD@]HOST:PORT of an HTTP proxy',
    );
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '')
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
  return { ...parsed, source: 'HTTPS_PROXY', noProxy };
}

/** NO_PROXY: `*`, an exact host, or a domain suffix (`.example.com` or `example.com`); ports ignored. */
export function bypassesProxy(proxy: ProxySettings, host: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, '');
  return proxy.noProxy.some((entry) => {
    if (entry === '*') return true;
    const bare = entry.replace(/^\[?([^\]]*?)\]?(:\d+)?$/, '$1');
    const domain = bare.startsWith('.') ? bare.slice(1) : bare;
    return name === domain || name.endsWith(`.${domain}`);
  });
}

/** The proxy for a hub endpoint's host, or none (no proxy, or NO_PROXY names the host). */
export function proxyFor(proxy: ProxySettings | undefined, host: string): ProxySettings | undefined {
  return proxy && !bypassesProxy(proxy, host) ? proxy : undefined;
}

function parseProxyUrl(
  text: string,
  allowUserinfo: boolean,
): { address: HostPort; username?: string; password?: string } | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:') return undefined;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return undefined;
  if (!allowUserinfo && (url.username || url.password)) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === '') return undefined;
  const port = url.port === '' ? 80 : Number(url.port);
  return {
    address: { host, port },
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/** The password to send now: the file's content as it is at this moment, else the one given. */
export function currentProxyPassword(
  proxy: Pick<ProxySettings, 'password' | 'passwordFile'>,
): string | undefined {
  return proxy.passwordFile !== undefined ? readPasswordFile(proxy.passwordFile) : proxy.password;
}

function passwordPath(file: string, dataDir: string): string {
  return isAbsolute(file) ? file : join(dataDir, file);
}

function readPasswordFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LifelineError(
      'CONFIG_INVALID',
      `proxy.passwordFile: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const password = text.trim();
  if (password === '') throw new LifelineError('CONFIG_INVALID', `proxy.passwordFile: ${path} is empty`);
  return password;
}
