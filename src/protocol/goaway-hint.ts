// The "retry later" hint a hub puts in a tunnel's GOAWAY debug data (docs/protocol.md):
//   retry-after-ms=<N>; <reason>                      admission: the same hub address, after N ms
//   retry-after-ms=<N>; reconnect=elsewhere; <reason> drain: another hub address now, this one after N ms
// Agents that predate the drain read the second form as the first (the marker is part of the reason).

/** The most a hub may make an agent wait with one hint. */
export const maxRetryAfterMs = 60_000;

/** The marker that tells the agent to go to another hub address rather than wait for this one. */
const elsewhereMarker = 'reconnect=elsewhere';

export interface GoawayHint {
  retryAfterMs: number;
  reason: string;
  /** This hub node is draining: reconnect to another hub address at once. */
  elsewhere: boolean;
}

/** The debug data of a GOAWAY that asks the agent to retry later (here, or elsewhere first). */
export function goawayHintText(hint: GoawayHint): string {
  const marker = hint.elsewhere ? `${elsewhereMarker}; ` : '';
  return `retry-after-ms=${Math.max(0, Math.round(hint.retryAfterMs))}; ${marker}${hint.reason}`;
}

/** A GOAWAY's debug data as a hint, or undefined when it is not one (another reason in words). */
export function parseGoawayHint(text: string): GoawayHint | undefined {
  const match = /^retry-after-ms=(\d{1,9})(?:;\s*([\s\S]*))?$/.exec(text.trim());
  if (!match?.[1]) return undefined;
  let rest = match[2]?.trim() ?? '';
  const elsewhere = rest === elsewhereMarker || rest.startsWith(`${elsewhereMarker};`);
  if (elsewhere) rest = rest.slice(elsewhereMarker.length).replace(/^;\s*/, '');
  return {
    retryAfterMs: Math.min(maxRetryAfterMs, Number(match[1])),
    reason: rest || (elsewhere ? 'the hub node is draining' : 'too many stations connecting'),
    elsewhere,
  };
}
