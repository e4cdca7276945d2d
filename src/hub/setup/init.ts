// `lifeline hub init`: the hub's CA, server certificate, ticket-signing key and hub.yaml.
// Refuses to touch a directory that already holds a hub. The data directory is made (or tightened to)
// 0700 and every file in it 0600: it holds the CA key and, once started, the users' password
// hashes and TOTP secrets.

import { existsSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { LifelineError } from '../../common/errors.js';
import { ensurePrivateDirectory, writePrivateFile } from '../../common/disk/index.js';
import { formatHostPort, parseHostPort } from '../../common/net/index.js';
import { createCa, createTicketKeyPair, issueServerCert } from '../../pki/index.js';
import { hubConfigSchema, hubPaths } from '../config.js';
import { crlUrlFor } from '../trust/index.js';
import { ensureFixKey } from '../fixes/index.js';
import { ensureScrapeToken } from '../console/index.js';
import { parseConfig } from '../../common/config/index.js';

const year = 365 * 24 * 3600 * 1000;

export interface HubInitOptions {
  listen?: string | undefined;
  apiListen?: string | undefined;
  publicUrl?: string | undefined;
}

export async function initHub(
  dataDir: string,
  options: HubInitOptions,
): Promise<{
  caCertPath: string;
  configPath: string;
  metricsTokenPath: string;
  /** The mode the data directory had when init tightened it to 0700 (made by mkdir -m 755). */
  dataDirTightenedFrom: number | undefined;
}> {
  const paths = hubPaths(dataDir);
  for (const path of [paths.config, paths.caCert, paths.caKey]) {
    if (existsSync(path)) {
      throw new LifelineError(
        'CONFIG_EXISTS',
        `${path} exists: ${dataDir} already holds a hub; refusing to overwrite it`,
      );
    }
  }
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
  const config = parseConfig(
    hubConfigSchema,
    {
      listen: formatHostPort(listen),
      apiListen: formatHostPort(apiListen),
      stationAddress: formatHostPort({ host: publicHost, port: listen.port }),
      apiUrl,
    },
    'hub init',
  );

  const dataDirTightenedFrom = ensurePrivateDirectory(dataDir);
  const ca = await createCa('Lifeline hub CA', 10 * year);
  const hosts = [...new Set([publicHost, 'localhost', '127.0.0.1', '::1'])];
  const server = await issueServerCert(ca, hosts, 2 * year, Date.now(), crlUrlFor(config.apiUrl));
  const ticketKeys = createTicketKeyPair();
  writePrivateFile(paths.caKey, ca.keyPem);
  writePrivateFile(paths.caCert, ca.certPem);
  writePrivateFile(paths.serverKey, server.keyPem);
  writePrivateFile(paths.serverCert, server.certPem);
  writePrivateFile(paths.ticketKey, ticketKeys.privateKeyPem);
  writePrivateFile(paths.ticketPublicKey, ticketKeys.publicKeyPem);
  // Fix statements get a key of their own (kept if one is there already).
  ensureFixKey(paths);
  // Prometheus reads it (authorization: credentials_file) to scrape GET /metrics.
  ensureScrapeToken(paths.metricsToken);
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
    });
  writePrivateFile(paths.config, yaml);
  return {
    caCertPath: paths.caCert,
    configPath: paths.config,
    metricsTokenPath: paths.metricsToken,
    dataDirTightenedFrom,
  };
}
