// The files of a data directory that every node of a cluster holds the same: the CA (which issues
// station and node certificates), the ticket and fix signing keys, and the metrics scrape token.
// Each node has its own server certificate, hub.yaml and node identity.

import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writePrivateFile } from '../../common/disk/index.js';
import { hubPaths } from '../config.js';

export function clusterKeyPath(dataDir: string): string {
  return join(dataDir, 'cluster-key');
}

function sharedPaths(dataDir: string): string[] {
  const paths = hubPaths(dataDir);
  return [
    paths.caCert,
    paths.caKey,
    paths.ticketKey,
    paths.ticketPublicKey,
    paths.fixKey,
    paths.fixPublicKey,
    paths.metricsToken,
  ];
}

/** The shared files of a data directory, by file name. */
export function sharedClusterFiles(dataDir: string): Record<string, string> {
  return Object.fromEntries(sharedPaths(dataDir).map((path) => [basename(path), readFileSync(path, 'utf8')]));
}

/** The file names `hub join` expects from the cluster. */
export function sharedClusterFileNames(): string[] {
  return sharedPaths('.').map((path) => basename(path));
}

/** Writes the shared files into a new node's data directory (0600). */
export function writeSharedClusterFiles(dataDir: string, files: Readonly<Record<string, string>>): void {
  for (const [name, content] of Object.entries(files)) writePrivateFile(join(dataDir, name), content);
}
