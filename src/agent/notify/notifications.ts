// Where the agent's events go besides the audit log: the administrator's webhook, if configured
// (notifications.webhook in agent.yaml; the HMAC secret is read from its own file).

import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { AgentConfig } from '../config.js';
import { WebhookNotifier, type WebhookEventType } from './webhook.js';

export type NotificationType = WebhookEventType;

export class Notifications {
  readonly #stationId: string;
  readonly #clock: Clock;
  readonly #webhook: WebhookNotifier | undefined;

  constructor(options: {
    stationId: string;
    clock: Clock;
    logger: Logger;
    config: Readonly<AgentConfig>;
    dataDir: string;
  }) {
    this.#stationId = options.stationId;
    this.#clock = options.clock;
    const webhook = options.config.notifications.webhook;
    if (webhook) {
      const path = isAbsolute(webhook.secretFile)
        ? webhook.secretFile
        : join(options.dataDir, webhook.secretFile);
      let secret: string;
      try {
        secret = readFileSync(path, 'utf8').trim();
      } catch {
        throw new LifelineError('CONFIG_INVALID', `notifications.webhook.secretFile: cannot read ${path}`);
      }
      if (secret.length < 16) {
        throw new LifelineError(
          'CONFIG_INVALID',
          'notifications.webhook.secretFile: expected a secret of at least 16 characters',
        );
      }
      this.#webhook = new WebhookNotifier({
        url: webhook.url,
        secret,
        clock: options.clock,
        logger: options.logger,
      });
    }
  }

  notify(type: NotificationType, data: Record<string, unknown>): void {
    this.#webhook?.notify({ type, stationId: this.#stationId, atMs: this.#clock.now(), data });
  }

  async close(): Promise<void> {
    await this.#webhook?.close(3000);
  }
}
