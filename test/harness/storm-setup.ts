// Many stations, cheaply, for the reconnect-storm test: certificates signed by the hub's own CA (one
// shared key, one certificate per Station ID) and the stations written into hub.db through the
// store, as enrollment would, while the hub is not running.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createKeyAndCsr, signStationCsr } from '../../src/pki/index.js';
import { generateStationId } from '../../src/protocol/index.js';
import { openSqliteHubStore } from '../../src/hub/store/index.js';
import { hubPaths } from '../../src/hub/index.js';

export interface StormStation {
  stationId: string;
  certPem: string;
}

export interface StormStations {
  caPem: string;
  /** One EC key for all: each station still has its own certificate naming its own Station ID. */
  keyPem: string;
  stations: StormStation[];
}

export async function createStormStations(hubDir: string, count: number): Promise<StormStations> {
  const paths = hubPaths(hubDir);
  const ca = { certPem: readFileSync(paths.caCert, 'utf8'), keyPem: readFileSync(paths.caKey, 'utf8') };
  const { keyPem, csrPem } = await createKeyAndCsr('storm');
  const ids = new Set<string>();
  while (ids.size < count) ids.add(generateStationId((n) => randomBytes(n)));
  const validityMs = 24 * 3_600_000;
  const stations: StormStation[] = [];
  for (const stationId of ids) {
    stations.push({ stationId, certPem: await signStationCsr(ca, csrPem, stationId, validityMs) });
  }
  const store = await openSqliteHubStore(paths.database);
  try {
    const nowMs = Date.now();
    for (const [index, { stationId }] of stations.entries()) {
      await store.addStation({
        id: stationId,
        name: `storm-${index}`,
        enrolledAtMs: nowMs,
        certNotAfterMs: nowMs + validityMs,
        lastSeenAtMs: null,
        connectedSinceMs: null,
        revokedAtMs: null,
      });
    }
  } finally {
    await store.close();
  }
  return { caPem: ca.certPem, keyPem, stations };
}
