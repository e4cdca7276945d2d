// `lifeline hub init`: the hub's CA, server certificate, ticket-signing key and hub.yaml.
// Refuses to touch a directory that already holds a hub. The data directory is made (or tightened to)
// 0700 and every file in it 0600: it holds the CA key and, once started, the users' password
// hashes and TOTP secrets. With --store postgres://... it also creates the cluster in that empty
// database: the files every node needs go there sealed with a new cluster key (cluster-key.ts),
// which `hub join` needs to add the next nodes.

import { randomUUID } from 'node:crypto';
import { LifelineError } from '../../common/errors.js';
import { ensurePrivateDirectory, writePrivateFile } from '../../common/disk/index.js';
import { createCa, createTicketKeyPair, issueServerCert } from '../../pki/index.js';
import { hubPaths } from '../config.js';
import { crlUrlFor } from '../trust/index.js';
import { ensureFixKey } from '../fixes/index.js';
import { ensureScrapeToken } from '../console/index.js';
import {
  clusterKeyCheck,
  clusterKeyPath,
  newClusterKey,
  newNodeIdentity,
  sealClusterFile,
  sharedClusterFiles,
  writeClusterKey,
  writeNodeIdentity,
} from '../cluster/index.js';
import { openPostgresHubStore } from '../store/index.js';
import {
  nodeSettings,
  refuseExistingHub,
  serverHosts,
  writeHubYaml,
  type NodeSetupOptions,
} from './node-setup.js';

const year = 365 * 24 * 3600 * 1000;

export type HubInitOptions = NodeSetupOptions;

export async function initHub(
  dataDir: string,
  options: HubInitOptions,
): Promise<{
  caCertPath: string;
  configPath: string;
  metricsTokenPath: string;
  /** The mode the data directory had when init tightened it to 0700 (made by mkdir -m 755). */
  dataDirTightenedFrom: number | undefined;
  /** With --store: the new cluster's id and the key file `hub join` needs. */
  cluster?: { id: string; keyPath: string };
}> {
  const paths = hubPaths(dataDir);
  refuseExistingHub(dataDir);
  const settings = nodeSettings(options, 'hub init');
  // A database that holds a cluster already is refused before anything is written.
  const store = settings.store
    ? await openPostgresHubStore({ url: settings.store.url, password: settings.store.password, poolMax: 2 })
    : undefined;
  try {
    const existing = await store?.cluster.get();
    if (existing)
      throw new LifelineError(
        'CLUSTER_EXISTS',
        `the database ${settings.store?.where ?? ''} holds the cluster ${existing.id} already: add this node with lifeline hub join, or give hub init an empty database`,
      );

    const dataDirTightenedFrom = ensurePrivateDirectory(dataDir);
    const ca = await createCa('Lifeline hub CA', 10 * year);
    const server = await issueServerCert(
      ca,
      serverHosts(settings.publicHost),
      2 * year,
      Date.now(),
      crlUrlFor(settings.config.apiUrl),
    );
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
    writeNodeIdentity(dataDir, newNodeIdentity(options.nodeName));

    let cluster: { id: string; keyPath: string } | undefined;
    if (store && settings.store) {
      const id = randomUUID();
      const key = newClusterKey();
      const sealed = Object.fromEntries(
        Object.entries(sharedClusterFiles(dataDir)).map(([name, content]) => [
          name,
          sealClusterFile(key, id, name, content),
        ]),
      );
      const created = await store.cluster.create(
        { id, createdAtMs: Date.now(), keyCheck: clusterKeyCheck(key, id) },
        sealed,
      );
      if (!created)
        throw new LifelineError(
          'CLUSTER_EXISTS',
          `another hub init created a cluster in ${settings.store.where} at the same time; remove ${dataDir} and add this node with lifeline hub join`,
        );
      writeClusterKey(clusterKeyPath(dataDir), key);
      cluster = { id, keyPath: clusterKeyPath(dataDir) };
    }
    writeHubYaml(dataDir, settings);
    return {
      caCertPath: paths.caCert,
      configPath: paths.config,
      metricsTokenPath: paths.metricsToken,
      dataDirTightenedFrom,
      ...(cluster ? { cluster } : {}),
    };
  } finally {
    await store?.close();
  }
}
