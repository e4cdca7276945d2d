// One verification of the audit log, as the CLI prints it and the admin API returns it: the
// local hash chain, then the hub's latest checkpoint of it (when the hub can be reached).

import type { AgentStore } from '../store/index.js';
import { AuditChainVerifier, compareWithCheckpoint, type AuditFault } from './audit-verify.js';
import type { AuditCheckpoint } from '../../protocol/index.js';

export interface AuditReport {
  ok: boolean;
  count: number;
  headHash: string | null;
  firstBad: AuditFault | null;
  hub:
    | { compared: true; ok: boolean; checkpointCount: number; checkpointAtMs: number; message: string | null }
    | { compared: false; reason: string };
}

export async function verifyAuditLog(
  store: AgentStore,
  hubCheckpoint: () => Promise<AuditCheckpoint | null>,
): Promise<AuditReport> {
  let checkpoint: AuditCheckpoint | null = null;
  let unreachable: string | undefined;
  try {
    checkpoint = await hubCheckpoint();
  } catch (err) {
    unreachable = err instanceof Error ? err.message : String(err);
  }
  const verifier = new AuditChainVerifier(checkpoint ? { checkpoint } : {});
  for await (const entry of store.iterateAudit()) verifier.push(entry);
  const result = verifier.result();
  if (!result.ok) {
    return {
      ok: false,
      count: result.count,
      headHash: null,
      firstBad: result.firstBad,
      hub: { compared: false, reason: 'the local chain does not verify' },
    };
  }
  if (!checkpoint) {
    return {
      ok: true,
      count: result.count,
      headHash: result.headHash,
      firstBad: null,
      hub: { compared: false, reason: unreachable ?? 'the hub holds no checkpoint of this log yet' },
    };
  }
  const comparison = compareWithCheckpoint(result, checkpoint);
  return {
    ok: comparison.ok,
    count: result.count,
    headHash: result.headHash,
    firstBad: null,
    hub: {
      compared: true,
      ok: comparison.ok,
      checkpointCount: checkpoint.count,
      checkpointAtMs: checkpoint.atMs,
      message: comparison.ok ? null : comparison.message,
    },
  };
}
