// Where the running agent's events go besides its audit log: the administrator's webhook, and a
// copy of every audit entry to the syslog receiver if one is configured. close() sends what waits
// (syslog first: it carries the agent's last audit entries), then stops.

import { hostname } from 'node:os';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import { parseHostPort } from '../../common/net/index.js';
import type { AuditEntry } from '../../protocol/index.js';
import type { AgentConfig } from '../config.js';
import { Notifications, type NotificationType } from './notifications.js';
import { SyslogSender, formatSyslog5424 } from './syslog-export.js';

export interface NotifyDeps {
  stationId: string;
  config: Readonly<AgentConfig>;
  dataDir: string;
  /** Subscribes to every audit entry once written (AuditLog.onEntry). */
  onAuditEntry: (listener: (entry: AuditEntry) => void) => void;
  clock: Clock;
  logger: Logger;
}

export interface Notify {
  notify(type: NotificationType, data: Record<string, unknown>): void;
  close(): Promise<void>;
}

export function startNotify(deps: NotifyDeps): Notify {
  const { stationId, clock, logger } = deps;
  const syslog = deps.config.audit.syslog;
  const syslogAddress = syslog && parseHostPort(syslog.address, 'audit.syslog.address');
  // Reads the webhook's secret: a configuration error is thrown before anything runs.
  const notifications = new Notifications({
    stationId,
    clock,
    logger,
    config: deps.config,
    dataDir: deps.dataDir,
  });
  let sender: SyslogSender | undefined;
  if (syslog && syslogAddress) {
    const to = new SyslogSender({ transport: syslog.transport, ...syslogAddress, logger, clock });
    const format = { hostname: hostname(), stationId };
    deps.onAuditEntry((entry) => to.send(formatSyslog5424(entry, format)));
    sender = to;
  }
  return {
    notify: (type, data) => notifications.notify(type, data),
    async close() {
      await sender?.close();
      await notifications.close();
    },
  };
}
