// The cluster's shared files kept the same on every node. `hub rotate` on one node writes the next
// CA or ticket key (and rotation.json) into its data directory and pushes the whole set, sealed,
// to the database as a new version; every node pulls a newer version within a second and writes
// it into its own data directory, where the trust watcher (trust-rotation.ts) takes it up as if
// the CLI had run there. Server certificates are each node's own: a node issues its next one from
// the next CA when it arrives, and keeps its served one from the current CA. When an overlap ends,
// every node finishes it by itself; the first to push the result makes it the new version.

import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { replaceFile, writePrivateFile } from '../../common/disk/index.js';
import { issueServerCert } from '../../pki/index.js';
import { hubPaths } from '../config.js';
import type { HubStore } from '../store/index.js';
import { crlUrlFor, rotationPaths, serverHosts } from '../trust/index.js';
import {
  keyOpensCluster,
  readClusterKey,
  sealClusterFile,
  unsealClusterFile,
  type ClusterKey,
} from './cluster-key.js';
import { clusterKeyPath, sharedClusterFileNames } from './shared-files.js';

const year = 365 * 24 * 3600 * 1000;

/** Files of a rotation under way, shared while they exist; rotation.json is written last. */
function rotationFileNames(): { keys: string[]; state: string } {
  const next = rotationPaths('.');
  return {
    keys: [next.caCert, next.caKey, next.ticketKey, next.ticketPublicKey].map((path) => basename(path)),
    state: basename(next.state),
  };
}

function versionPath(dataDir: string): string {
  return join(dataDir, 'cluster-files-version');
}

/** The version of the shared files this data directory holds (0: as made by init or join). */
export function localFilesVersion(dataDir: string): number {
  const path = versionPath(dataDir);
  if (!existsSync(path)) return 0;
  const version = Number(readFileSync(path, 'utf8').trim());
  return Number.isInteger(version) && version >= 0 ? version : 0;
}

export function writeLocalFilesVersion(dataDir: string, version: number): void {
  replaceFile(versionPath(dataDir), `${version}\n`);
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

function issuedBy(certPem: string | undefined, caPem: string | undefined): boolean {
  if (certPem === undefined || caPem === undefined) return false;
  try {
    return new X509Certificate(certPem).checkIssued(new X509Certificate(caPem));
  } catch {
    return false;
  }
}

export interface ClusterTrustMirrorOptions {
  store: HubStore;
  dataDir: string;
  clusterId: string;
  key: ClusterKey;
  /** The node's technician API URL, named as the CRL location in server certificates it issues. */
  apiUrl: string;
  logger: Logger;
}

export class ClusterTrustMirror {
  readonly #options: ClusterTrustMirrorOptions;
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<unknown> = Promise.resolve();

  constructor(options: ClusterTrustMirrorOptions) {
    this.#options = options;
  }

  /** Writes a newer version of the shared files into the data directory; true when it did. */
  pull(): Promise<boolean> {
    const run = this.#busy.then(() => this.#pull());
    this.#busy = run.catch(() => undefined);
    return run;
  }

  /**
   * Pushes the data directory's shared files as the next version; false when another node pushed
   * a version this node has not pulled (pull, and try again if still needed).
   */
  push(nowMs: number): Promise<boolean> {
    const run = this.#busy.then(() => this.#push(nowMs));
    this.#busy = run.catch(() => undefined);
    return run;
  }

  /** Pulls every second. */
  start(intervalMs = 1000): void {
    this.#timer ??= setInterval(() => {
      this.pull().catch((err: unknown) =>
        this.#options.logger.warn({ err }, "could not mirror the cluster's shared files"),
      );
    }, intervalMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#busy;
  }

  async #push(nowMs: number): Promise<boolean> {
    const { store, dataDir, clusterId, key } = this.#options;
    const rotation = rotationFileNames();
    const names = [...sharedClusterFileNames(), ...rotation.keys, rotation.state];
    const sealed: Record<string, string> = {};
    for (const name of names) {
      const content = readIfExists(join(dataDir, name));
      if (content !== undefined) sealed[name] = sealClusterFile(key, clusterId, name, content);
    }
    const version = localFilesVersion(dataDir);
    if (!(await store.cluster.replaceFiles(version, sealed, nowMs))) return false;
    writeLocalFilesVersion(dataDir, version + 1);
    return true;
  }

  async #pull(): Promise<boolean> {
    const { store, dataDir, clusterId, key, logger } = this.#options;
    const version = await store.cluster.filesVersion();
    if (version <= localFilesVersion(dataDir)) return false;
    const sealed = await store.cluster.files();
    const rotation = rotationFileNames();
    const files = new Map<string, string>();
    for (const name of [...sharedClusterFileNames(), ...rotation.keys, rotation.state]) {
      const file = sealed[name];
      if (file !== undefined) files.set(name, unsealClusterFile(key, clusterId, name, file));
    }
    for (const name of sharedClusterFileNames())
      if (!files.has(name))
        throw new LifelineError(
          'CLUSTER_NOT_FOUND',
          `version ${version} of the cluster's files lacks ${name}`,
        );

    const write = (name: string, content: string) => {
      const path = join(dataDir, name);
      if (readIfExists(path) !== content) writePrivateFile(path, content, true);
    };
    for (const name of [...sharedClusterFileNames(), ...rotation.keys]) {
      const content = files.get(name);
      if (content !== undefined) write(name, content);
      else rmSync(join(dataDir, name), { force: true });
    }
    await this.#ensureServerCerts();
    const state = files.get(rotation.state);
    // Last: the trust watcher reloads when it changes, and finds every file it names in place.
    if (state !== undefined) write(rotation.state, state);
    else rmSync(join(dataDir, rotation.state), { force: true });
    writeLocalFilesVersion(dataDir, version);
    logger.info({ version }, "this node took the cluster's shared files (a key rotation on another node)");
    return true;
  }

  /**
   * This node's server certificates for the CAs the shared files name: the served one from the
   * current CA (the next one renamed, once an overlap ended on another node first), and during a
   * CA rotation the next one from the next CA, both for the names the node's certificate has.
   */
  async #ensureServerCerts(): Promise<void> {
    const { dataDir, apiUrl } = this.#options;
    const paths = hubPaths(dataDir);
    const next = rotationPaths(dataDir);
    const caPem = readFileSync(paths.caCert, 'utf8');
    const served = readIfExists(paths.serverCert);
    const hosts = served === undefined ? ['localhost', '127.0.0.1', '::1'] : serverHosts(served);
    const issue = async (ca: { certPem: string; keyPem: string }, keyPath: string, certPath: string) => {
      const issued = await issueServerCert(ca, hosts, 2 * year, Date.now(), crlUrlFor(apiUrl));
      writePrivateFile(keyPath, issued.keyPem, true);
      writePrivateFile(certPath, issued.certPem, true);
    };
    if (!issuedBy(served, caPem)) {
      if (issuedBy(readIfExists(next.serverCert), caPem)) {
        renameSync(next.serverKey, paths.serverKey);
        renameSync(next.serverCert, paths.serverCert);
      } else {
        await issue(
          { certPem: caPem, keyPem: readFileSync(paths.caKey, 'utf8') },
          paths.serverKey,
          paths.serverCert,
        );
      }
    }
    const nextCaPem = readIfExists(next.caCert);
    if (nextCaPem === undefined) {
      rmSync(next.serverCert, { force: true });
      rmSync(next.serverKey, { force: true });
    } else if (!issuedBy(readIfExists(next.serverCert), nextCaPem)) {
      await issue(
        { certPem: nextCaPem, keyPem: readFileSync(next.caKey, 'utf8') },
        next.serverKey,
        next.serverCert,
      );
    }
  }
}

/**
 * The mirror of a cluster node (a cluster in the store and the cluster key in the data directory),
 * having pulled what changed while the node was down; undefined on a hub of its own.
 */
export async function openClusterTrustMirror(options: {
  store: HubStore;
  dataDir: string;
  apiUrl: string;
  logger: Logger;
}): Promise<ClusterTrustMirror | undefined> {
  const keyPath = clusterKeyPath(options.dataDir);
  if (!existsSync(keyPath)) return undefined;
  const cluster = await options.store.cluster.get();
  if (!cluster) return undefined;
  const key = readClusterKey(keyPath, 'the cluster key');
  if (!keyOpensCluster(key, cluster.id, cluster.keyCheck))
    throw new LifelineError(
      'CLUSTER_KEY_MISMATCH',
      `${keyPath} does not open the cluster ${cluster.id} in this node's database: the data directory belongs to another cluster`,
    );
  const mirror = new ClusterTrustMirror({ ...options, clusterId: cluster.id, key });
  await mirror.pull();
  return mirror;
}
