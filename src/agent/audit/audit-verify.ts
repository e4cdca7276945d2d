import { auditEntryHash, genesisHash, type AuditEntry } from '../../protocol/index.js';
// Verifies the agent's hash-chained audit log and exports it as JSON Lines. The chain alone shows an
// edit, a deletion inside the log or a reordering; a removed tail, a rollback or a consistent rewrite
// of every hash from some entry on shows only against a checkpoint (count and head hash) kept elsewhere.

export type AuditProblem = 'hash-mismatch' | 'broken-link' | 'sequence-gap' | 'bad-genesis';

export interface AuditFault {
  seq: number;
  problem: AuditProblem;
  message: string;
}

export type AuditVerification =
  | {
      ok: true;
      count: number;
      /** 0 for an empty log. */
      headSeq: number;
      /** genesisHash for an empty log. */
      headHash: string;
      /** The hash of the entry numbered checkpoint.count, when a checkpoint was given and reached. */
      checkpointHash?: string;
    }
  | {
      ok: false;
      /** Every entry read, including those after the first bad one. */
      count: number;
      firstBad: AuditFault;
    };

/** What a verifier remembers of a log it trusted: how many entries it had and the hash of the last. */
export interface AuditCheckpoint {
  count: number;
  headHash: string;
}

export type CheckpointComparison =
  { ok: true } | { ok: false; problem: 'chain-broken' | 'truncated' | 'diverged'; message: string };

/**
 * Checks entries in the order given (the store lists them by seq), in one pass and constant memory:
 * each entry's hash over its own content, then its number, then its link to the entry before.
 */
export class AuditChainVerifier {
  readonly #checkpointCount: number | undefined;
  #count = 0;
  #headSeq = 0;
  #headHash = genesisHash;
  #checkpointHash: string | undefined;
  #firstBad: AuditFault | undefined;

  constructor(options: { checkpoint?: AuditCheckpoint } = {}) {
    this.#checkpointCount = options.checkpoint?.count;
    if (this.#checkpointCount === 0) this.#checkpointHash = genesisHash;
  }

  /** Returns false once an entry has failed; later entries are only counted. */
  push(entry: AuditEntry): boolean {
    this.#count++;
    if (this.#firstBad) return false;
    this.#firstBad = this.#check(entry);
    if (this.#firstBad) return false;
    this.#headSeq = entry.seq;
    this.#headHash = entry.hash;
    if (entry.seq === this.#checkpointCount) this.#checkpointHash = entry.hash;
    return true;
  }

  result(): AuditVerification {
    if (this.#firstBad) return { ok: false, count: this.#count, firstBad: { ...this.#firstBad } };
    const head = { ok: true as const, count: this.#count, headSeq: this.#headSeq, headHash: this.#headHash };
    return this.#checkpointHash === undefined ? head : { ...head, checkpointHash: this.#checkpointHash };
  }

  #check(entry: AuditEntry): AuditFault | undefined {
    const { hash, ...unhashed } = entry;
    const { seq } = entry;
    if (auditEntryHash(unhashed) !== hash) {
      return {
        seq,
        problem: 'hash-mismatch',
        message: `entry ${seq} was changed: its content does not match its hash`,
      };
    }
    const first = this.#count === 1;
    const prevSeq = this.#headSeq;
    if (first && seq !== 1) {
      return {
        seq,
        problem: 'bad-genesis',
        message:
          seq > 1
            ? `the log starts at entry ${seq}, not entry 1: ${missing(1, seq - 1)} missing`
            : `the log starts at entry ${seq}, but entries are numbered from 1`,
      };
    }
    if (first && entry.prevHash !== genesisHash) {
      return {
        seq,
        problem: 'bad-genesis',
        message:
          'entry 1 does not start a chain: it links to an earlier entry, so the log was cut or replaced',
      };
    }
    if (!first && seq !== prevSeq + 1) {
      return {
        seq,
        problem: 'sequence-gap',
        message:
          seq > prevSeq
            ? `entry ${seq} does not follow entry ${prevSeq}: ${missing(prevSeq + 1, seq - 1)} missing or the order was changed`
            : `entry ${seq} comes after entry ${prevSeq}: the order was changed or a number repeats`,
      };
    }
    if (!first && entry.prevHash !== this.#headHash) {
      return {
        seq,
        problem: 'broken-link',
        message:
          `entry ${seq} does not link to entry ${prevSeq}: one of them was rewritten ` +
          'and its hash recomputed, or entries were copied in from another log',
      };
    }
    return undefined;
  }
}

function missing(from: number, to: number): string {
  return from === to ? `entry ${from} is` : `entries ${from} to ${to} are`;
}

/** Verifies a whole log; pass the checkpoint you will compare with if the log may have grown since. */
export function verifyAuditChain(
  entries: Iterable<AuditEntry>,
  options: { checkpoint?: AuditCheckpoint } = {},
): AuditVerification {
  const verifier = new AuditChainVerifier(options);
  for (const entry of entries) verifier.push(entry);
  return verifier.result();
}

/**
 * Compares a verified log with a checkpoint taken earlier. A log shorter than the checkpoint lost its
 * tail (or was rolled back); one whose entry at the checkpoint's count has another hash was rewritten.
 */
export function compareWithCheckpoint(
  result: AuditVerification,
  checkpoint: AuditCheckpoint,
): CheckpointComparison {
  if (!result.ok) {
    return {
      ok: false,
      problem: 'chain-broken',
      message: `the log does not verify: ${result.firstBad.message}`,
    };
  }
  if (result.count < checkpoint.count) {
    const lost = checkpoint.count - result.count;
    return {
      ok: false,
      problem: 'truncated',
      message:
        `the log has ${result.count} entries but had ${checkpoint.count} at the checkpoint: ` +
        `the last ${lost === 1 ? 'entry was' : `${lost} entries were`} removed, or the log was rolled back`,
    };
  }
  const hashThen = result.count === checkpoint.count ? result.headHash : result.checkpointHash;
  if (hashThen === undefined) {
    // A programming error, not a finding: the hash at the checkpoint was not recorded while streaming.
    throw new TypeError('the log has grown since the checkpoint: pass it to verifyAuditChain as well');
  }
  if (hashThen !== checkpoint.headHash) {
    return {
      ok: false,
      problem: 'diverged',
      message:
        `entry ${checkpoint.count} differs from the checkpoint: the log up to it was rewritten ` +
        'with recomputed hashes, or rolled back and written again',
    };
  }
  return { ok: true };
}

/** One JSON object per line, each ending in a newline, keys in a fixed order; `at` is ISO 8601 UTC. */
export function formatAuditJsonLines(entries: Iterable<AuditEntry>): string {
  let text = '';
  for (const entry of entries) {
    const line = {
      seq: entry.seq,
      at: isoTime(entry.atMs),
      actor: entry.actor,
      action: entry.action,
      detail: entry.detail,
      prevHash: entry.prevHash,
      hash: entry.hash,
    };
    text += `${JSON.stringify(line)}\n`;
  }
  return text;
}

/** A tampered row may hold a time no Date can show; the export shows it as null rather than failing. */
function isoTime(atMs: number): string | null {
  const date = new Date(atMs);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
