// Acts on `lifeline hub user disable` within a second: the command writes the store directly (the
// hub may be another process, or several nodes), so the running hub looks at the disabled users
// twice a second, forgets their checked logins and ends their live sessions.

import type { Logger } from '../../common/logger.js';
import type { HubStore } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';

export interface UserWatchOptions {
  store: HubStore;
  audit: HubAudit;
  logger: Logger;
  /** Forgets the user's recently checked logins (TechnicianAuth.forgetUser). */
  forgetUser: (name: string) => void;
  /** Ends the live sessions of these users (SessionBroker.endUserSessions). */
  endUserSessions: (names: ReadonlySet<string>) => Map<string, number>;
  intervalMs?: number;
}

export class UserWatch {
  readonly #options: UserWatchOptions;
  #disabled = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;

  constructor(options: UserWatchOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => {
      // A slow store must not pile polls up.
      this.#polling ??= this.poll()
        .catch((err: unknown) => this.#options.logger.error({ err }, 'checking for disabled users failed'))
        .finally(() => {
          this.#polling = undefined;
        });
    }, this.#options.intervalMs ?? 500);
    this.#timer.unref();
  }

  /** One look at the store; public for tests. */
  async poll(): Promise<void> {
    const { store, audit, logger, forgetUser, endUserSessions } = this.#options;
    const disabled = new Set(await store.userSecurity.disabledUserNames());
    if (this.#closed) return;
    for (const name of disabled) if (!this.#disabled.has(name)) forgetUser(name);
    this.#disabled = disabled;
    if (disabled.size === 0) return;
    // Every disabled user, every time: a session that was being opened at the last look is caught now.
    for (const [user, sessions] of endUserSessions(disabled)) {
      logger.info({ user, sessions }, 'ended the sessions of a disabled user');
      await audit.record('hub', 'user.sessions-ended', null, { user, sessions, endReason: 'user-disabled' });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#polling;
  }
}
