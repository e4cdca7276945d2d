// What every HubStore implementation must do, as one suite of tests: runHubStoreContract(name, open)
// runs it against the store `open` makes (a new, empty one for each test). Every part of the store
// is covered through the HubStore interface alone, so the same tests hold any implementation.

import { describe } from 'node:test';
import { describeAttachments } from './attachments.js';
import { describeAuditAndSessions } from './audit-sessions.js';
import { describeCluster } from './cluster.js';
import { describeDataRequests } from './data-requests.js';
import { describeFixes } from './fixes.js';
import type { OpenHubStore } from './fixtures.js';
import { describeReports } from './reports.js';
import { describeRetention } from './retention.js';
import { describeStations } from './stations.js';
import { describeTrust } from './trust.js';
import { describeUsers } from './users.js';

export type { OpenHubStore } from './fixtures.js';

export function runHubStoreContract(name: string, open: OpenHubStore): void {
  describe(name, () => {
    describeStations(open);
    describeUsers(open);
    describeAuditAndSessions(open);
    describeReports(open);
    describeAttachments(open);
    describeDataRequests(open);
    describeFixes(open);
    describeRetention(open);
    describeTrust(open);
    describeCluster(open);
  });
}
export { envelope, item, problemOpen, station, t0 } from './fixtures.js';
