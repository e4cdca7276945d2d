// What the Diagnostics page hears live: the agent's events turned into topics of the change feed
// (src/common/change-feed.ts). The page then fetches those parts through the ordinary admin API.

import type { ChangeFeed } from '../../common/change-feed.js';

export type PageTopic = 'status' | 'policy' | 'sessions' | 'audit' | 'callhome' | 'performance';

/** The topics an audit entry's action changes; every entry changes the audit log itself. */
export function pageTopicsOf(action: string): PageTopic[] {
  const topics: PageTopic[] = ['audit'];
  const area = action.split('.', 1)[0] ?? '';
  switch (area) {
    case 'setting':
    case 'policy':
    case 'station':
      topics.push('status', 'policy');
      break;
    case 'acl':
    case 'access-request':
    case 'grant':
      topics.push('policy', 'status');
      break;
    case 'session':
      // A refusal can create an access request: the pending count changes with it.
      topics.push('sessions', 'status', 'policy');
      break;
    case 'callhome':
    case 'problem':
    case 'attachment':
    case 'data':
    case 'fix':
      topics.push('callhome', 'status');
      break;
    default:
      break;
  }
  return topics;
}

/** The sources of change the agent has; each is optional so that the feed works while parts start. */
export interface PageFeedSources {
  onAudit?: (listener: (action: string) => void) => void;
  onTunnelState?: (listener: () => void) => void;
  onCallHome?: (listener: () => void) => void;
  onPerformanceSample?: (listener: () => void) => void;
  /** The disk filled or has room again; the audit log stopped or started being writable. */
  onHealth?: (listener: () => void) => void;
}

export function wirePageFeed(feed: ChangeFeed, sources: PageFeedSources): void {
  sources.onAudit?.((action) => feed.changed(...pageTopicsOf(action)));
  sources.onTunnelState?.(() => feed.changed('status'));
  sources.onCallHome?.(() => feed.changed('callhome', 'status'));
  sources.onPerformanceSample?.(() => feed.changed('performance'));
  sources.onHealth?.(() => feed.changed('status'));
}
