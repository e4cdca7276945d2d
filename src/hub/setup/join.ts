// `lifeline hub join`: another node of a cluster made by `hub init --store`. It takes the cluster's
// shared files from the database (opened with the cluster key the operator gives it), issues
// this node's own server certificate from the cluster CA, and writes hub.yaml. An empty database
// and the database of another cluster are refused before anything is written.

import { readFileSync } from 'node:fs';
import { LifelineError } from '../../common/errors.js';
import { ensurePrivateDirectory, writePrivateFile } from '../../common/disk/index.js';
import { issueServerCert } from '../../pki/index.js';
import { hubPaths } from '../config.js';
import { crlUrlFor } from '../trust/index.js';
import {
  clusterKeyPath,
  keyOpensCluster,
  newNodeIdentity,
  readClusterKey,
  sharedClusterFileNames,
  unsealClusterFile,
  writeClusterKey,
  writeNodeIdentity,
  writeSharedClusterFiles,
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

export interface HubJoinOptions extends NodeSetupOptions {
  store: string;
  /** The cluster key file `hub init` wrote (DATA/cluster-key on the first node). */
  clusterKeyFile: string;
}

export async function joinHub(
  dataDir: string,
  options: HubJoinOptions,
): Promise<{
  clusterId: string;
  caCertPath: string;
  configPath: string;
  dataDirTightenedFrom: number | undefined;
}> {
  refuseExistingHub(dataDir);
  const key = readClusterKey(options.clusterKeyFile, '--cluster-key-file');
  const settings = nodeSettings(options, 'hub join');
  const store = settings.store;
  if (!store)
    throw new LifelineError('CONFIG_INVALID', '--store: expected postgres://USER@HOST:PORT/DATABASE');
  // Read only: a database without a cluster is left as it was found.
  const hubStore = await openPostgresHubStore({
    url: store.url,
    password: store.password,
    poolMax: 2,
    migrate: false,
  });
  let files: Record<string, string>;
  let clusterId: string;
  try {
    const cluster = await hubStore.cluster.get().catch((err: unknown) => {
      // 42P01: no such table, a database no hub node has used.
      if ((err as { code?: unknown } | null)?.code === '42P01') return undefined;
      throw err;
    });
    if (!cluster)
      throw new LifelineError(
        'CLUSTER_NOT_FOUND',
        `the database ${store.where} holds no cluster: make the first node with lifeline hub init --store, or correct --store`,
      );
    if (!keyOpensCluster(key, cluster.id, cluster.keyCheck))
      throw new LifelineError(
        'CLUSTER_KEY_MISMATCH',
        `the database ${store.where} holds the cluster ${cluster.id}, which the key in ${options.clusterKeyFile} does not open: that key belongs to another cluster, or this is another cluster's database`,
      );
    clusterId = cluster.id;
    const sealed = await hubStore.cluster.files();
    files = {};
    for (const name of sharedClusterFileNames()) {
      const file = sealed[name];
      if (file === undefined)
        throw new LifelineError(
          'CLUSTER_NOT_FOUND',
          `the cluster ${cluster.id} in ${store.where} lacks its file ${name}`,
        );
      files[name] = unsealClusterFile(key, cluster.id, name, file);
    }
  } finally {
    await hubStore.close();
  }

  const paths = hubPaths(dataDir);
  const dataDirTightenedFrom = ensurePrivateDirectory(dataDir);
  writeSharedClusterFiles(dataDir, files);
  const ca = { certPem: readFileSync(paths.caCert, 'utf8'), keyPem: readFileSync(paths.caKey, 'utf8') };
  const server = await issueServerCert(
    ca,
    serverHosts(settings.publicHost),
    2 * year,
    Date.now(),
    crlUrlFor(settings.config.apiUrl),
  );
  writePrivateFile(paths.serverKey, server.keyPem);
  writePrivateFile(paths.serverCert, server.certPem);
  writeClusterKey(clusterKeyPath(dataDir), key);
  // No version file: the node's first start pulls whatever a rotation changed since the cluster
  // was made (the next CA or ticket key of a rotation under way included).
  writeNodeIdentity(dataDir, newNodeIdentity(options.nodeName));
  writeHubYaml(dataDir, settings);
  return { clusterId, caCertPath: paths.caCert, configPath: paths.config, dataDirTightenedFrom };
}
