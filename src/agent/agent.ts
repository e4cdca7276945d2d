// The running agent, and the composition root: Agent.start opens agent.db and starts each feature in
// turn, each through its own folder's start (what it opened comes back with a close()). Agent.close
// closes them in the reverse order, each to its end; a step that fails at start-up closes every step
// before it, so a failed start leaves nothing running. Remote service is off after enrollment.
// Over 400 lines: the steps of start read in one place, in the order they run, beside the answers
// the agent gives the admin API.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChangeFeed } from '../common/change-feed.js';
import { systemClock, type Clock } from '../common/clock.js';
import { CloseStack } from '../common/close-stack.js';
import { connectionLimitsOf } from '../common/config/index.js';
import { StoreSpace, replaceFile } from '../common/disk/index.js';
import { LifelineError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { ConnectionGuard, parseHostPort } from '../common/net/index.js';
import { TicketVerifier } from '../pki/index.js';
import type { AccessLevel, PolicyState } from '../policy/index.js';
import { alpnUpload, type AuditCheckpoint, type AuditEntry } from '../protocol/index.js';
import { AgentMetrics, startAdminApi, type AgentControl, type AgentStatus } from './admin-api/index.js';
import { startUploads, type Uploader, type Uploads } from './attachments/index.js';
import { AuditLog, startCheckpoints, verifyAuditLog, type AuditReport } from './audit/index.js';
import {
  startCallHome,
  testCallHomeFromDataDir,
  type LastAccepted,
  type CallHomeTestReport,
  type Outbox,
  type ProblemDesk,
} from './callhome/index.js';
import { collectAppliance, startCollectors, type Collectors } from './collectors/index.js';
import { agentPaths, loadAgentConfig } from './config.js';
import { startDataRequests, type DataRequestDesk } from './data-requests/index.js';
import { listFixDownloads, recordFixEvent, type FixDownload, type FixEvent } from './fixes/index.js';
import { StationCredentials, startIdentity, type Identity } from './identity/index.js';
import { startLink, type Link, type TunnelClient } from './link/index.js';
import { startNotify, wirePageFeed } from './notify/index.js';
import { payloadRedaction } from './redaction/index.js';
import {
  Sessions,
  deleteService,
  putService,
  storedPolicy,
  type ServiceTarget,
  type ActiveSession,
  type PolicyControl,
  type RefusalCount,
} from './sessions/index.js';
import { AgentStore, settingKeys, type AgentSessionRecord, type ServiceRecord } from './store/index.js';

export interface AgentStartOptions {
  /** An enrolled data directory (lifeline agent enroll). */
  dataDir: string;
  /** HOST:PORT of the admin API; admin.listen in agent.yaml when absent. */
  adminListen?: string;
  logger: Logger;
  clock?: Clock;
}

export interface RuntimeInfo {
  pid: number;
  adminUrl: string;
  stationId: string;
}

/** What Agent.start made, for the agent to act on. */
interface AgentParts {
  opened: CloseStack;
  store: AgentStore;
  space: StoreSpace;
  audit: AuditLog;
  sessions: Sessions;
  link: Link;
  identity: Identity;
  outbox: Outbox;
  problems: ProblemDesk;
  uploads: Uploads;
  dataRequests: DataRequestDesk;
  collectors: Collectors;
  lastAccepted: LastAccepted;
  logger: Logger;
  stationId: string;
  hub: string;
  dataDir: string;
}

export class Agent implements AgentControl {
  readonly policyControl: PolicyControl;
  /** Call-home reports: accepted durably, then delivered to the hub. */
  readonly outbox: Outbox;
  /** The appliance's problems, each report of them going through the outbox. */
  readonly problems: ProblemDesk;
  /** Extended error data: staged files, uploaded after their problem's reports. */
  readonly uploader: Uploader;
  /** The vendor's requests for more error data, fetched on each call-home poll. */
  readonly dataRequests: DataRequestDesk;
  /** Heartbeat, inventory and performance reports. */
  readonly collectors: Collectors;
  readonly #opened: CloseStack;
  readonly #store: AgentStore;
  readonly #space: StoreSpace;
  readonly #audit: AuditLog;
  readonly #sessions: Sessions;
  readonly #link: Link;
  readonly #identity: Identity;
  readonly #lastAccepted: LastAccepted;
  readonly #logger: Logger;
  readonly #stationId: string;
  readonly #hub: string;
  readonly #dataDir: string;
  #adminUrl = '';
  #closing: Promise<void> | undefined;

  private constructor(parts: AgentParts) {
    this.policyControl = parts.sessions.control;
    this.outbox = parts.outbox;
    this.problems = parts.problems;
    this.uploader = parts.uploads.uploader;
    this.dataRequests = parts.dataRequests;
    this.collectors = parts.collectors;
    this.#opened = parts.opened;
    this.#store = parts.store;
    this.#space = parts.space;
    this.#audit = parts.audit;
    this.#sessions = parts.sessions;
    this.#link = parts.link;
    this.#identity = parts.identity;
    this.#lastAccepted = parts.lastAccepted;
    this.#logger = parts.logger;
    this.#stationId = parts.stationId;
    this.#hub = parts.hub;
    this.#dataDir = parts.dataDir;
  }

  /**
   * Starts the agent on an enrolled data directory. When a step fails (an admin address in use, a
   * full disk), everything opened before it is closed again before the error is thrown.
   */
  static async start(options: AgentStartOptions): Promise<Agent> {
    const opened = new CloseStack({
      onError: (err, name) => options.logger.error({ err }, `closing ${name} failed`),
    });
    try {
      return await Agent.#open(options, opened);
    } catch (err) {
      await opened.close();
      throw err;
    }
  }

  /** The steps of start, in order; each registers in `opened` what it must close. */
  static async #open(options: AgentStartOptions, opened: CloseStack): Promise<Agent> {
    const { dataDir } = options;
    const clock = options.clock ?? systemClock;
    const paths = agentPaths(dataDir);
    const config = loadAgentConfig(dataDir);
    const read = (path: string) => readFileSync(path, 'utf8');

    // agent.db, and the "store full" condition: measured on the data directory, told of every
    // write refused.
    const space = opened.use(
      'disk space',
      new StoreSpace({
        dir: dataDir,
        minFreeBytes: config.store.minFreeMb * 1024 * 1024,
        minFreeSetting: 'store.minFreeMb in agent.yaml',
        clock,
        logger: options.logger,
      }),
    );
    const store = opened.use(
      'agent.db',
      await AgentStore.open(paths.database, {
        maxBytes: config.store.maxSizeMb * 1024 * 1024,
        maxBytesSetting: 'store.maxSizeMb in agent.yaml',
        onStoreFull: (error) => space.noteFull(error),
      }),
    );
    const stationId = await enrolledStationId(store, dataDir);
    const logger = options.logger.child({ stationId });
    const policy = await storedPolicy(store);
    const audit = new AuditLog(store, clock, logger);
    const dangling = await store.closeDanglingSessions(clock.now());
    if (dangling > 0)
      await audit.record('agent', 'session.end.recovered', {
        sessions: dangling,
        endReason: 'agent-shutdown',
      });

    // Where events go besides the audit log: the webhook, and syslog (until the last entry).
    const notify = opened.use(
      'notifications',
      startNotify({ stationId, config, dataDir, onAuditEntry: (l) => audit.onEntry(l), clock, logger }),
    );

    // Sessions: made now, for the tunnel to hand its streams to; they may run only at the end.
    // The pinned ticket keys: a ticket-key rotation's trust bundle replaces them (identity).
    const verifier = new TicketVerifier(read(paths.hubTicketKey));
    const sessions = new Sessions({
      stationId,
      verifier,
      store,
      audit,
      policy,
      config,
      clock,
      logger,
      notify: (type, data) => notify.notify(type, data),
      onSessionEnded: () => link.tunnel.sessionEnded(),
      onLimitRefused: (limit) => metrics.observeLimitRefusal(limit),
    });

    // The link to the hub: one set of credentials for every channel (renewal reloads them).
    const credentials = new StationCredentials(paths);
    const link = opened.use(
      'link',
      startLink({ config, dataDir, credentials, gate: sessions.gate, clock, logger }),
    );
    const { callHome, dialer } = link;
    opened.use(
      'audit checkpoints',
      await startCheckpoints({
        stationId,
        keyPem: () => credentials.current().keyPem,
        hub: callHome,
        store,
        audit,
        everyEntries: config.audit.checkpointEntries,
        everyMs: config.audit.checkpointInterval,
        clock,
        logger,
      }),
    );
    // The agent's last entry, once everything that writes entries has stopped: checkpoints and
    // syslog, closed after it, still carry it.
    let startRecorded = false;
    opened.defer('agent.stop', async () => {
      if (startRecorded) await audit.record('agent', 'agent.stop', {}).catch(() => undefined);
    });

    // Call home: the outbox, problems, requests for data and uploads.
    const redaction = await payloadRedaction(store, config.callhome.redact);
    const callhome = opened.use(
      'call home',
      await startCallHome({
        db: store.db,
        store,
        hub: callHome,
        audit,
        settings: config.callhome,
        ...(redaction ? { transformPayload: redaction } : {}),
        ensureRoom: () => space.ensureRoom(),
        clock,
        logger,
      }),
    );
    const { outbox } = callhome;
    const dataRequests = opened.use(
      'data requests',
      startDataRequests({
        db: store.db,
        channel: callHome,
        clock,
        logger,
        record: (actor, action, detail) => audit.record(actor, action, detail),
        pollIntervalMs: config.callhome.pollInterval,
      }),
    );
    const uploads = opened.use(
      'uploads',
      startUploads({
        db: store.db,
        connect: async (signal) => (await dialer.connectInUse(alpnUpload, signal)).socket,
        send: (method, path, body, headers, sendOptions) =>
          callHome.sendBytes(method, path, body, headers, sendOptions),
        transmissions: {
          recordUploadStep: async (step) => {
            await outbox.store.recordUploadStep(step);
            if (step.status >= 200 && step.status < 300)
              callhome.lastAccepted.note({ atMs: step.atMs, kind: step.kind, status: step.status });
          },
        },
        dir: join(dataDir, 'attachments'),
        audit: (action, detail, actor = 'agent') => audit.record(actor, action, detail),
        room: space,
        pausedUntilMs: callhome.pausedUntilMs,
        clock,
        logger,
      }),
    );
    const { uploader } = uploads;
    // Failback moves call home to the preferred endpoint: chunks follow it.
    dialer.on('failback', () => uploads.channel.retire());

    // The station's certificate renewed in time, and the hub's trust bundle pinned.
    const identity = opened.use(
      'identity',
      startIdentity({
        stationId,
        paths,
        credentials,
        verifier,
        hub: callHome,
        onRenewed: () => uploads.channel.retire(),
        record: async (action, detail) => {
          await audit.record('agent', action, detail);
        },
        clock,
        logger,
      }),
    );

    // Deadlines and caps of the admin API's connections (the API takes them over below).
    const adminGuard = new ConnectionGuard({
      limits: connectionLimitsOf(config.admin.connections),
      listener: 'admin API',
      configKey: 'agent.yaml admin.connections',
      logger,
    });
    const metrics = new AgentMetrics({
      clock,
      tunnelState: () => link.tunnel.status.state,
      activeSessions: () => sessions.gate.activeCount,
      outboxCounts: () => outbox.store.counts(),
      connectionStats: () => adminGuard.stats(),
      storeFull: () => space.condition !== null,
    });
    audit.onEntry((entry) => metrics.observeAudit(entry));
    // Room again: what backed off because the store could not be written goes on at once.
    space.on('change', (condition) => {
      if (condition !== null) return;
      outbox.storeRecovered();
      uploader.wake();
      // An audit log that failed for lack of room is tried again now, so sessions are allowed
      // again without waiting for the next session request to try it.
      if (!audit.healthy) void audit.record('agent', 'audit.resumed', {}).catch(() => undefined);
    });
    outbox.on('attempt', (event) => {
      metrics.observeDelivery(event);
      if (event.type === 'failed') return;
      // An attachment waits for its problem's reports: each delivery may unblock one.
      uploader.wake();
    });
    const applianceModel = config.appliance;
    const collectors = opened.use(
      'collectors',
      startCollectors({
        settings: config.callhome,
        clock,
        logger,
        store,
        accept: (kind, payload, accept) => outbox.accept(kind, payload, accept),
        // What agent.yaml says of this appliance wins over what DMI tells.
        appliance: () => ({
          ...collectAppliance(),
          ...(applianceModel?.model ? { model: applianceModel.model } : {}),
          ...(applianceModel?.serial ? { serial: applianceModel.serial } : {}),
        }),
      }),
    );
    const agent = new Agent({
      opened,
      store,
      space,
      audit,
      sessions,
      link,
      identity,
      outbox,
      problems: callhome.problems,
      uploads,
      dataRequests,
      collectors,
      lastAccepted: callhome.lastAccepted,
      logger,
      stationId,
      hub: config.hub.endpoints[0] ?? '',
      dataDir,
    });
    await audit.record('agent', 'agent.start', {
      remoteEnabled: policy.remoteEnabled,
      accessLevel: policy.accessLevel,
    });
    startRecorded = true;

    // The admin API, and the file through which the CLI finds it.
    const listen = parseHostPort(options.adminListen ?? config.admin.listen, 'admin listen address');
    const feed = new ChangeFeed();
    wirePageFeed(feed, {
      onAudit: (listener) => audit.onEntry((entry) => listener(entry.action)),
      onTunnelState: (listener) => link.tunnel.on('state', () => listener()),
      onHealth: (listener) => {
        space.on('change', () => listener());
        audit.onHealthChange(() => listener());
      },
      onCallHome: (listener) => {
        outbox.on('attempt', () => listener());
        outbox.on('settled', () => listener());
      },
    });
    const admin = opened.use(
      'admin API',
      await startAdminApi({
        control: agent,
        token: read(paths.adminToken).trim(),
        listen,
        logger,
        metrics,
        feed,
        guard: adminGuard,
        hosts: { listenHost: listen.host, allowedHosts: config.admin.allowedHosts },
        // The store answers and the audit log can be written: sessions may run.
        healthy: async () => {
          await store.getSetting(settingKeys.stationId);
          return audit.healthy;
        },
        storeFull: () => space.condition !== null,
      }),
    );
    agent.#adminUrl = admin.url;
    const runtime: RuntimeInfo = { pid: process.pid, adminUrl: admin.url, stationId };
    try {
      replaceFile(paths.runtime, JSON.stringify(runtime, null, 2) + '\n');
    } catch (err) {
      // The CLI finds the agent through this file: without it the agent cannot be reached.
      throw await space.failed(err, paths.runtime);
    }
    logger.info({ adminUrl: admin.url }, 'admin API listening');

    // Last, sessions may run; at close they end first, each end written before anything closes.
    sessions.start();
    opened.defer('sessions', async () => {
      const ended = sessions.close();
      link.tunnel.close();
      await ended;
    });
    if (sessions.access.policy.remoteEnabled) link.tunnel.enable();
    return agent;
  }

  get policy(): PolicyState {
    return this.#sessions.access.policy;
  }

  get adminUrl(): string {
    return this.#adminUrl;
  }

  get stationId(): string {
    return this.#stationId;
  }

  get tunnel(): TunnelClient {
    return this.#link.tunnel;
  }

  async status(): Promise<AgentStatus> {
    return {
      stationId: this.#stationId,
      // The endpoint in use now; the first one until any was dialled.
      hub: this.#link.tunnel.status.endpoint ?? this.#link.dialer.current.endpoint ?? this.#hub,
      remoteEnabled: this.policy.remoteEnabled,
      accessLevel: this.policy.accessLevel,
      mfa: (await this.policyControl.mfaRequired()) ? 'required' : 'optional',
      tunnel: this.#link.tunnel.status,
      certificate: this.#identity.renewal.status(),
      hubEndpoints: this.#link.dialer.status(),
      proxy: this.#link.dialer.proxyStatus(),
      lastCallHome: await this.#lastAccepted.get(),
      activeSessions: this.#sessions.gate.activeCount,
      pendingRequests: await this.policyControl.countPending(),
      auditHealthy: this.#audit.healthy,
      storeFull: this.#space.condition,
      oneTimeGrant: await this.policyControl.currentGrant(),
    };
  }

  refusals(): Promise<RefusalCount[]> {
    return this.policyControl.refusals();
  }

  setRemote(enabled: boolean, actor: string): Promise<void> {
    return this.#sessions.access.setRemote(enabled, actor, this.#link.tunnel);
  }

  setAccessLevel(level: AccessLevel, actor: string): Promise<void> {
    return this.#sessions.access.setAccessLevel(level, actor);
  }

  sessions(): ActiveSession[] {
    return this.#sessions.gate.list();
  }

  recentSessions(): Promise<AgentSessionRecord[]> {
    return this.#store.listSessions(50);
  }

  stopSession(id: string, actor: string): Promise<void> {
    return this.#sessions.access.stopSession(id, actor);
  }

  stopAll(actor: string): Promise<number> {
    return this.#sessions.access.stopAll(actor);
  }

  services(): Promise<ServiceRecord[]> {
    return this.#store.listServices();
  }

  /** `lifeline agent service add` while the agent runs: the service and its entry, one transaction. */
  addService(service: ServiceTarget, actor: string): Promise<ServiceTarget> {
    return putService(this.#audit, service, actor);
  }

  removeService(name: string, actor: string): Promise<void> {
    return deleteService(this.#audit, name, actor);
  }

  audit(options: { sinceMs?: number | undefined; limit?: number | undefined }): Promise<AuditEntry[]> {
    return this.#store.listAudit({
      ...(options.sinceMs !== undefined ? { sinceMs: options.sinceMs } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    });
  }

  /** Maintenance mode: reports are accepted and kept, none is sent until `untilMs` (null: resume). */
  async pauseCallHome(untilMs: number | null, actor: string): Promise<void> {
    await this.#audit.record(actor, untilMs === null ? 'callhome.resume' : 'callhome.pause', {
      until: untilMs === null ? null : new Date(untilMs).toISOString(),
    });
    await this.#store.setSetting(settingKeys.callHomePausedUntil, untilMs);
    if (untilMs === null) {
      this.outbox.resume();
      this.uploader.resume();
    } else {
      this.outbox.pause(untilMs);
      this.uploader.pause(untilMs);
    }
  }

  /** `agent callhome test` from the admin API: the same checks, run by the agent process. */
  testCallHome(): Promise<CallHomeTestReport> {
    return testCallHomeFromDataDir(this.#dataDir);
  }

  /** A fix downloaded or refused by `lifeline agent fix download`, in the audit log. */
  recordFixEvent(event: FixEvent, actor: string): Promise<void> {
    return recordFixEvent((action, detail, with_) => this.#audit.record(actor, action, detail, with_), event);
  }

  fixDownloads(): Promise<FixDownload[]> {
    return listFixDownloads(this.#store);
  }

  verifyAudit(): Promise<AuditReport> {
    const callHome = this.#link.callHome;
    return verifyAuditLog(this.#store, async () => {
      const answer = await callHome.request<{ checkpoint: AuditCheckpoint | null }>(
        'GET',
        '/v1/audit/checkpoints/latest',
      );
      return answer.checkpoint;
    });
  }

  /**
   * Drains, closing what start opened in the reverse order, each to its end: sessions end and are
   * written, the admin API closes, the features stop (deliveries in flight commit), the last audit
   * entry goes to the hub and syslog, and agent.db closes. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#opened.close().then(() => this.#logger.info('agent stopped'));
    return this.#closing;
  }
}

/** The Station ID enrollment wrote, or ENROLL_NOT_ENROLLED. */
async function enrolledStationId(store: AgentStore, dataDir: string): Promise<string> {
  const stationId = await store.getSetting(settingKeys.stationId);
  if (typeof stationId !== 'string')
    throw new LifelineError(
      'ENROLL_NOT_ENROLLED',
      `${dataDir} holds no enrolled station: run lifeline agent enroll first`,
    );
  return stationId;
}
