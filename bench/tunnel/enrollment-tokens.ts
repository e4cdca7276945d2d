// Enrollment tokens in bulk for the idle-tunnel benchmarks, stored as `lifeline hub token create`
// stores them but without a process per token, in whichever store hub.yaml names (SQLite or
// PostgreSQL). Runs before the hub starts.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { enrollmentTokenId, hubPaths, loadHubConfig } from '../../src/hub/index.js';
import { openHubStore } from '../../src/hub/store/index.js';
import { certSha256 } from '../../src/pki/index.js';
import { encodeEnrollmentToken } from '../../src/protocol/index.js';

/** `count` tokens valid for an hour; resolves with their text as `agent enroll --token-file` reads it. */
export async function createEnrollmentTokens(hubDir: string, count: number): Promise<string[]> {
  const paths = hubPaths(hubDir);
  const config = loadHubConfig(hubDir);
  const caSha256 = certSha256(readFileSync(paths.caCert, 'utf8'));
  const store = await openHubStore({ store: config.store, dataDir: hubDir, sqlitePath: paths.database });
  const tokens: string[] = [];
  try {
    const nowMs = Date.now();
    for (let i = 0; i < count; i++) {
      const secret = randomBytes(32).toString('base64url');
      await store.addEnrollmentToken({
        id: enrollmentTokenId(secret),
        createdAtMs: nowMs,
        expiresAtMs: nowMs + 3600_000,
        usedAtMs: null,
        usedByStation: null,
      });
      tokens.push(encodeEnrollmentToken({ hub: config.stationAddress, caSha256, secret }));
    }
  } finally {
    await store.close();
  }
  return tokens;
}
