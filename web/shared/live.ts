// What both pages do to stay current: load every part once, then follow the server's change feed
// and load again just the parts it names (all of them after a break, to catch up).

import { useEffect, useState } from 'preact/hooks';
import type { ApiClient } from './api.js';

/** Follows GET /v1/events while `enabled`; returns whether the feed is live (for the page to say). */
export function useLiveTopics<Topic extends string>(
  api: ApiClient,
  enabled: boolean,
  allTopics: readonly Topic[],
  load: (topics: readonly Topic[]) => Promise<void>,
): boolean {
  const [live, setLive] = useState(false);
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
      (isLive) => {
        setLive(isLive);
        if (isLive) void load(allTopics);
      },
      controller.signal,
    );
    return () => controller.abort();
  }, [api, enabled, allTopics, load]);
  return live;
}

/** The first failure of a set of loads, for the page to show; null when all of them worked. */
export function firstFailure(results: readonly PromiseSettledResult<unknown>[]): string | null {
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  return failed ? String(failed.reason) : null;
}
