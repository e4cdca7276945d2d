// The administrator's switches over sessions: remote service on or off, the access level, and
// stopping sessions. Each change is audited first (a change that cannot be recorded does not
// happen), then saved in agent.db; a change that narrows access ends what it no longer allows.

import { LifelineError } from '../../common/errors.js';
import { accessLevels, type AccessLevel, type PolicyState } from '../../policy/index.js';
import type { AuditLog } from '../audit/index.js';
import { settingKeys, type AgentStore } from '../store/index.js';
import type { SessionGate } from './session-gate.js';

/** The tunnel, as remote service switches it (TunnelClient). */
export interface TunnelSwitch {
  enable(): void;
  disable(): void;
}

/** Remote service and access level as the administrator last set them (off, restricted at first). */
export async function storedPolicy(store: Pick<AgentStore, 'getSetting'>): Promise<PolicyState> {
  const level = await store.getSetting(settingKeys.accessLevel);
  return {
    remoteEnabled: (await store.getSetting(settingKeys.remoteEnabled)) === true,
    // Restricted is the recommended level: it holds until the administrator chooses another.
    accessLevel: accessLevels.includes(level as AccessLevel) ? (level as AccessLevel) : 'restricted',
  };
}

export class RemoteAccess {
  readonly #store: Pick<AgentStore, 'setSetting'>;
  readonly #audit: AuditLog;
  readonly #gate: SessionGate;
  #policy: PolicyState;

  constructor(options: {
    store: Pick<AgentStore, 'setSetting'>;
    audit: AuditLog;
    gate: SessionGate;
    /** As stored (storedPolicy). */
    policy: PolicyState;
  }) {
    this.#store = options.store;
    this.#audit = options.audit;
    this.#gate = options.gate;
    this.#policy = options.policy;
  }

  /** The policy in force: what the gate decides every session with. */
  get policy(): PolicyState {
    return this.#policy;
  }

  /** Off ends every session and closes the tunnel; on opens the tunnel. */
  async setRemote(enabled: boolean, actor: string, tunnel: TunnelSwitch): Promise<void> {
    const before = this.#policy.remoteEnabled;
    await this.#audit.record(actor, 'setting.remote', { from: before, to: enabled });
    await this.#store.setSetting(settingKeys.remoteEnabled, enabled);
    this.#policy = { ...this.#policy, remoteEnabled: enabled };
    if (enabled) {
      tunnel.enable();
    } else {
      const ended = this.#gate.stopAll('remote-service-off');
      tunnel.disable();
      if (ended > 0)
        await this.#audit.record(actor, 'session.stop-all', {
          sessions: ended,
          endReason: 'remote-service-off',
        });
    }
  }

  async setAccessLevel(level: AccessLevel, actor: string): Promise<void> {
    await this.#audit.record(actor, 'setting.access', { from: this.#policy.accessLevel, to: level });
    await this.#store.setSetting(settingKeys.accessLevel, level);
    this.#policy = { ...this.#policy, accessLevel: level };
    if (level === 'none') {
      const ended = this.#gate.stopAll('access-none');
      if (ended > 0)
        await this.#audit.record(actor, 'session.stop-all', { sessions: ended, endReason: 'access-none' });
    } else {
      // Full to restricted: sessions no rule allows end now.
      await this.#gate.reevaluate();
    }
  }

  async stopSession(id: string, actor: string): Promise<void> {
    const session = this.#gate.list().find((s) => s.id === id);
    if (!session) throw new LifelineError('SESSION_NOT_FOUND', `no active session ${id}`);
    await this.#audit.record(actor, 'session.stop', {
      sessionId: id,
      technician: session.technician,
      service: session.service,
    });
    this.#gate.stop(id, 'stopped-by-admin');
  }

  async stopAll(actor: string): Promise<number> {
    const count = this.#gate.activeCount;
    await this.#audit.record(actor, 'session.stop-all', { sessions: count, endReason: 'stopped-by-admin' });
    return this.#gate.stopAll('stopped-by-admin');
  }
}
