// The cluster key: 32 random bytes the operator holds, made by `hub init` (DATA/cluster-key) and
// given to every `hub join`. The files all nodes share (CA key, ticket and fix keys) are kept in
// the database sealed with it (AES-256-GCM, the cluster id and the file's name bound in as
// associated data, so a sealed file cannot be moved to another name or cluster): a copy of the
// database alone gives none of them away. The database keeps only an HMAC of the cluster id under
// the key, which tells a join whether its key belongs to this cluster.

import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LifelineError } from '../../common/errors.js';
import { writePrivateFile } from '../../common/disk/index.js';

const keyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;
const sealedPrefix = 'v1.';

export type ClusterKey = Buffer;

export function newClusterKey(): ClusterKey {
  return randomBytes(keyBytes);
}

export function writeClusterKey(path: string, key: ClusterKey): void {
  writePrivateFile(path, key.toString('base64') + '\n');
}

/** Reads a cluster key file; `source` names where it came from in errors. */
export function readClusterKey(path: string, source: string): ClusterKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LifelineError(
      'CONFIG_INVALID',
      `${source}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        cause: err,
      },
    );
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== keyBytes || key.toString('base64') !== text.trim())
    throw new LifelineError(
      'CONFIG_INVALID',
      `${source}: ${path} does not hold a cluster key (32 bytes, base64, as hub init writes it)`,
    );
  return key;
}

/** What the database keeps to recognise the key: HMAC-SHA256(key, cluster id), hex. */
export function clusterKeyCheck(key: ClusterKey, clusterId: string): string {
  return createHmac('sha256', key).update(`lifeline cluster key check ${clusterId}`).digest('hex');
}

export function keyOpensCluster(key: ClusterKey, clusterId: string, keyCheck: string): boolean {
  const mine = Buffer.from(clusterKeyCheck(key, clusterId), 'hex');
  const theirs = Buffer.from(keyCheck, 'hex');
  return mine.length === theirs.length && timingSafeEqual(mine, theirs);
}

function associatedData(clusterId: string, name: string): Buffer {
  return Buffer.from(`lifeline cluster file ${clusterId} ${name}`);
}

export function sealClusterFile(key: ClusterKey, clusterId: string, name: string, content: string): string {
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(associatedData(clusterId, name));
  const body = Buffer.concat([cipher.update(content, 'utf8'), cipher.final()]);
  return sealedPrefix + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

export function unsealClusterFile(key: ClusterKey, clusterId: string, name: string, sealed: string): string {
  const bytes = sealed.startsWith(sealedPrefix)
    ? Buffer.from(sealed.slice(sealedPrefix.length), 'base64')
    : Buffer.alloc(0);
  if (bytes.length < ivBytes + tagBytes)
    throw new LifelineError(
      'CLUSTER_KEY_MISMATCH',
      `the cluster file ${name} in the database is not sealed by lifeline`,
    );
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, ivBytes));
    decipher.setAAD(associatedData(clusterId, name));
    decipher.setAuthTag(bytes.subarray(ivBytes, ivBytes + tagBytes));
    return Buffer.concat([decipher.update(bytes.subarray(ivBytes + tagBytes)), decipher.final()]).toString(
      'utf8',
    );
  } catch (err) {
    throw new LifelineError(
      'CLUSTER_KEY_MISMATCH',
      `the cluster key does not open the cluster file ${name}: it was changed, or sealed with another key`,
      {
        cause: err,
      },
    );
  }
}
