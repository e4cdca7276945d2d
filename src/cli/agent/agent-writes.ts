// Where the CLI's changes to the appliance's state go: through the running agent's admin API, so
// that each audit entry reaches the agent's syslog export, webhook and live pages; when no agent
// runs (before its first start, or while it is stopped), through the agent's own AuditLog on
// agent.db, each change in one transaction with its entry. The CLI is then the only writer.

import { systemClock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { agentPaths } from '../../agent/index.js';
import { AuditLog } from '../../agent/audit/index.js';
import { AgentStore } from '../../agent/store/index.js';
import { AdminClient } from '../admin-client.js';

/** Who the entries the CLI writes itself name; through the admin API the agent names the client. */
export const offlineActor = 'admin@cli';

/** agent.db opened by the CLI while no agent runs, with the agent's audit component on it. */
export interface OfflineAgent {
  store: AgentStore;
  audit: AuditLog;
}

export async function viaAgentOrOffline<T>(
  dataDir: string,
  viaAgent: (client: AdminClient) => Promise<T>,
  offline: (agent: OfflineAgent) => Promise<T>,
): Promise<T> {
  const client = runningAgent(dataDir);
  if (client) {
    try {
      return await viaAgent(client);
    } catch (err) {
      // Stopped since, and not yet reaped: nothing listens. Any other failure may have reached the
      // agent, so the change is not made a second time here.
      if (!refused(err)) throw err;
    }
  }
  const store = await AgentStore.open(agentPaths(dataDir).database);
  try {
    // The entry goes to agent.db only: no process log on the CLI's output.
    return await offline({ store, audit: new AuditLog(store, systemClock, silentLogger()) });
  } finally {
    await store.close();
  }
}

/**
 * The admin API of the agent that last ran from `dataDir`, if its process is still alive.
 * Undefined when none ever ran there, or it has ended: its run file stays behind, and the address
 * in it may by now be another process's.
 */
function runningAgent(dataDir: string): AdminClient | undefined {
  let client: AdminClient;
  try {
    client = new AdminClient(dataDir);
  } catch (err) {
    if (err instanceof LifelineError && err.code === 'API_UNREACHABLE') return undefined;
    throw err;
  }
  if (!Number.isSafeInteger(client.pid) || client.pid <= 0) return client;
  try {
    process.kill(client.pid, 0);
  } catch (err) {
    // EPERM: alive, run by another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
  }
  return client;
}

function refused(err: unknown): boolean {
  if (!(err instanceof LifelineError && err.code === 'API_UNREACHABLE')) return false;
  for (let cause: unknown = err.cause, depth = 0; cause instanceof Error && depth < 4; depth++) {
    if ((cause as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
    cause = cause.cause;
  }
  return false;
}
