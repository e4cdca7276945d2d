// The hub's fix-signing key (Ed25519), kept apart from the ticket key. `hub init` makes it; a hub
// initialised before fixes existed gets it at `hub start` or its first `hub fix publish`.

import { linkSync, readFileSync, unlinkSync } from 'node:fs';
import { createTicketKeyPair, FixSigner } from '../../pki/index.js';
import { writePrivateFile } from '../../common/disk/index.js';
import type { HubPaths } from '../config.js';

/**
 * The fix signer, creating the key if the data directory has none. The public key is derived from
 * the private one, so two processes racing to create it still agree (the loser reads the winner's).
 */
export function ensureFixKey(paths: Pick<HubPaths, 'fixKey' | 'fixPublicKey'>): FixSigner {
  let privateKeyPem: string;
  try {
    privateKeyPem = readFileSync(paths.fixKey, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // The same Ed25519 pair the ticket key uses; only its purpose differs.
    privateKeyPem = createTicketKeyPair().privateKeyPem;
    // Written whole under a temporary name, then linked: a racing reader never sees half a key.
    const temp = `${paths.fixKey}.${process.pid}.tmp`;
    writePrivateFile(temp, privateKeyPem, true);
    try {
      linkSync(temp, paths.fixKey);
    } catch (linkErr) {
      if ((linkErr as NodeJS.ErrnoException).code !== 'EEXIST') throw linkErr;
      privateKeyPem = readFileSync(paths.fixKey, 'utf8');
    } finally {
      unlinkSync(temp);
    }
  }
  const signer = new FixSigner(privateKeyPem);
  try {
    // For the operator's eyes; agents get the key at enrollment, derived from the private one.
    writePrivateFile(paths.fixPublicKey, signer.publicKeyPem);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return signer;
}
