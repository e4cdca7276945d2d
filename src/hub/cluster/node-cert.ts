// The node certificate: how hub nodes of one cluster know each other on their links. Issued by
// the node itself from the cluster CA (every node holds it) at start when missing or within 30 days
// of its end; it names the node's id (CN lifeline-node:ID).

import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePrivateFile } from '../../common/disk/index.js';
import { certNotAfterMs, issueNodeCert, nodeCertPrefix, type KeyAndCert } from '../../pki/index.js';
import { hubPaths } from '../config.js';
import type { NodeIdentity } from './node-identity.js';

const dayMs = 24 * 3600 * 1000;
const validityMs = 365 * dayMs;
const renewBeforeMs = 30 * dayMs;

export function nodeCertPaths(dataDir: string) {
  return { cert: join(dataDir, 'node.pem'), key: join(dataDir, 'node-key.pem') };
}

export async function ensureNodeCert(
  dataDir: string,
  node: NodeIdentity,
  nowMs: number,
): Promise<KeyAndCert> {
  const paths = nodeCertPaths(dataDir);
  if (existsSync(paths.cert) && existsSync(paths.key)) {
    const certPem = readFileSync(paths.cert, 'utf8');
    const ca = readFileSync(hubPaths(dataDir).caCert, 'utf8');
    // Kept while it is not near its end, names this node and comes from the current CA.
    if (certNotAfterMs(certPem) - nowMs > renewBeforeMs && isNodeCertOf(certPem, ca, node.id))
      return { certPem, keyPem: readFileSync(paths.key, 'utf8') };
  }
  const { caCert, caKey } = hubPaths(dataDir);
  const issued = await issueNodeCert(
    { certPem: readFileSync(caCert, 'utf8'), keyPem: readFileSync(caKey, 'utf8') },
    node.id,
    validityMs,
    nowMs,
  );
  writePrivateFile(paths.key, issued.keyPem);
  writePrivateFile(paths.cert, issued.certPem);
  return issued;
}

function isNodeCertOf(certPem: string, caPem: string, nodeId: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    return cert.subject === `CN=${nodeCertPrefix}${nodeId}` && cert.checkIssued(new X509Certificate(caPem));
  } catch {
    return false;
  }
}
