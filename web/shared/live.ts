// What both pages do to stay current: load every part once, then follow the server's change feed
// and load again just the parts it names (all of them after a break, to catch up).

import { useEffect, useState } from 'preact/hooks';
import type { ApiClient } from './api.js';

/** Whether the change feed is live and, when the server refused it, why (for the page to say). */
export interface LiveState {
  live: boolean;
  refusal: string | null;
}

/** What a page shows of the feed's state. */
export function liveLabel(state: LiveState): string {
  if (state.live) return 'Live';
  return state.refusal ? `Not live: ${state.refusal}` : 'Reconnecting…';
}

/** Follows GET /v1/events while `enabled`; returns the feed's state (for the page to say). */
export function useLiveTopics<Topic extends string>(
  api: ApiClient,
  enabled: boolean,
  allTopics: readonly Topic[],
  load: (topics: readonly Topic[]) => Promise<void>,
): LiveState {
  const [state, setState] = useState<LiveState>({ live: false, refusal: null });
  useEffect(() => {
    if (!enabled) return undefined;
    void load(allTopics);
    const controller = new AbortController();
    void api.follow(
      '/v1/events',
      (event) => {
        const named = (event.data as { topics?: string[] }).topics ?? allTopics;
        void load(allTopics.filter((t) => named.includes(t)));
      },
      (live, refusal) => {
        setState({ live, refusal });
        if (live) void load(allTopics);
      },
      controller.signal,
    );
    return () => controller.abort();
  }, [api, enabled, allTopics, load]);
  return state;
}

/** The first failure of a set of loads, for the page to show; null when all of them worked. */
export function firstFailure(results: readonly PromiseSettledResult<unknown>[]): string | null {
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  return failed ? String(failed.reason) : null;
}
