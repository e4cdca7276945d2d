// What `hub init` and `hub join` share: the node's addresses and URLs from their flags, the store
// they name, and the hub.yaml they write. A PostgreSQL password given in --store is kept in a
// file of its own (store-password, 0600) and not in hub.yaml.

import { existsSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { LifelineError } from '../../common/errors.js';
import { writePrivateFile } from '../../common/disk/index.js';
import { formatHostPort, parseHostPort } from '../../common/net/index.js';
import { parseConfig } from '../../common/config/index.js';
import { hubConfigSchema, hubPaths, type HubConfig } from '../config.js';
import { describePostgresUrl, storePasswordEnv } from '../store/index.js';

export interface NodeSetupOptions {
  listen?: string | undefined;
  apiListen?: string | undefined;
  publicUrl?: string | undefined;
  /** postgres://USER[:PASSWORD]@HOST:PORT/DATABASE: the cluster's shared store. */
  store?: string | undefined;
  /** The node's name in `hub nodes` (default: the host's name). */
  nodeName?: string | undefined;
}

export interface NodeSettings {
  config: HubConfig;
  publicHost: string;
  store?: {
    /** The URL without its password, as hub.yaml keeps it. */
    url: string;
    /** The password from the URL or the environment, if any. */
    password: string | undefined;
    /** Written to store-password when it came in the URL. */
    passwordFromUrl: boolean;
    where: string;
  };
}

export const storePasswordFileName = 'store-password';

export function refuseExistingHub(dataDir: string): void {
  const paths = hubPaths(dataDir);
  for (const path of [paths.config, paths.caCert, paths.caKey]) {
    if (existsSync(path)) {
      throw new LifelineError(
        'CONFIG_EXISTS',
        `${path} exists: ${dataDir} already holds a hub; refusing to overwrite it`,
      );
    }
  }
}

/** The node's settings from the flags of `source` (hub init / hub join). */
export function nodeSettings(options: NodeSetupOptions, source: string): NodeSettings {
  const listen = parseHostPort(options.listen ?? '127.0.0.1:8443', '--listen');
  const apiListen = parseHostPort(options.apiListen ?? '127.0.0.1:8444', '--api-listen');
  let publicHost = listen.host === '0.0.0.0' || listen.host === '::' ? 'localhost' : listen.host;
  let apiUrl = `https://${formatHostPort({ host: publicHost, port: apiListen.port })}`;
  if (options.publicUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.publicUrl);
    } catch {
      throw new LifelineError(
        'CONFIG_INVALID',
        `--public-url: expected a URL such as https://hub.example.com, got ${JSON.stringify(options.publicUrl)}`,
      );
    }
    if (url.protocol !== 'https:')
      throw new LifelineError('CONFIG_INVALID', '--public-url: expected an https:// URL');
    publicHost = url.hostname.replace(/^\[|\]$/g, '');
    apiUrl = `https://${url.host}${url.port ? '' : `:${apiListen.port}`}`;
  }
  const store = options.store === undefined ? undefined : storeOf(options.store);
  const config = parseConfig(
    hubConfigSchema,
    {
      listen: formatHostPort(listen),
      apiListen: formatHostPort(apiListen),
      stationAddress: formatHostPort({ host: publicHost, port: listen.port }),
      apiUrl,
      ...(store ? { store: { kind: 'postgres', url: store.url } } : {}),
    },
    source,
  );
  return { config, publicHost, ...(store ? { store } : {}) };
}

function storeOf(value: string): NonNullable<NodeSettings['store']> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LifelineError('CONFIG_INVALID', '--store: expected postgres://USER@HOST:PORT/DATABASE');
  }
  if ((url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') || url.hostname === '')
    throw new LifelineError('CONFIG_INVALID', '--store: expected postgres://USER@HOST:PORT/DATABASE');
  const inUrl = url.password === '' ? undefined : decodeURIComponent(url.password);
  url.password = '';
  const fromEnv = process.env[storePasswordEnv];
  return {
    url: url.toString(),
    password: inUrl ?? (fromEnv === '' ? undefined : fromEnv),
    passwordFromUrl: inUrl !== undefined,
    where: describePostgresUrl(url.toString()),
  };
}

/** The names the node's server certificate is valid for. */
export function serverHosts(publicHost: string): string[] {
  return [...new Set([publicHost, 'localhost', '127.0.0.1', '::1'])];
}

export function writeHubYaml(dataDir: string, settings: NodeSettings): void {
  const { config, store } = settings;
  if (store?.passwordFromUrl && store.password !== undefined)
    writePrivateFile(`${dataDir}/${storePasswordFileName}`, store.password + '\n');
  const yaml =
    '# Lifeline hub configuration. Durations: 30s, 15m, 8h, 30d. See docs/configuration.md.\n' +
    toYaml({
      listen: config.listen,
      apiListen: config.apiListen,
      stationAddress: config.stationAddress,
      apiUrl: config.apiUrl,
      authorizedGroup: config.authorizedGroup,
      enrollmentTokenTtl: '15m',
      stationCertValidity: '24h',
      renewalGrace: '7d',
      rotationOverlap: '7d',
      ticketTtl: '30s',
      technicianTokenTtl: '12h',
      ...(store
        ? {
            store: {
              kind: 'postgres',
              url: store.url,
              ...(store.passwordFromUrl ? { passwordFile: storePasswordFileName } : {}),
            },
          }
        : {}),
    });
  writePrivateFile(hubPaths(dataDir).config, yaml);
}
