// The audit log's chain format, shared by the agent (which writes and verifies it) and the hub
// (which verifies checkpoints of it): an entry's hash over its canonical JSON and the hash before
// it, the genesis hash, and a checkpoint's signed text.

import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export interface AuditEntry {
  seq: number;
  atMs: number;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** The hash before the first entry. */
export const genesisHash = '0'.repeat(64);

export function auditEntryHash(entry: Omit<AuditEntry, 'hash'>): string {
  const canonical = JSON.stringify([
    entry.seq,
    entry.atMs,
    entry.actor,
    entry.action,
    entry.detail,
    entry.prevHash,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

export interface AuditCheckpoint {
  stationId: string;
  count: number;
  headHash: string;
  /** The hub's previous checkpoint (0 and the genesis hash for the first), as this log has it. */
  previousCount: number;
  previousHash: string;
  atMs: number;
  /** base64 ECDSA-SHA256 signature by the station key over checkpointSigningText(). */
  signature: string;
}

export function checkpointSigningText(c: Omit<AuditCheckpoint, 'signature'>): string {
  return `lifeline-audit-checkpoint/2\n${c.stationId}\n${c.count}\n${c.headHash}\n${c.previousCount}\n${c.previousHash}\n${c.atMs}`;
}

export function signCheckpoint(
  c: Omit<AuditCheckpoint, 'signature'>,
  key: KeyObject | string,
): AuditCheckpoint {
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  return {
    ...c,
    signature: sign('sha256', Buffer.from(checkpointSigningText(c)), privateKey).toString('base64'),
  };
}

export function verifyCheckpoint(c: AuditCheckpoint, certOrKeyPem: string): boolean {
  try {
    return verify(
      'sha256',
      Buffer.from(checkpointSigningText(c)),
      createPublicKey(certOrKeyPem),
      Buffer.from(c.signature, 'base64'),
    );
  } catch {
    return false;
  }
}
