// The running agent: loads its identity and settings, serves the admin API, and keeps the tunnel
// open while remote service is on. Remote service is off after enrollment.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../common/clock.js';
import { LifelineError } from '../common/errors.js';
import { StoreSpace } from '../common/disk/index.js';
import { replaceFile } from '../common/disk/index.js';
import { formatHostPort, parseHostPort } from '../common/net/index.js';
import type { Logger } from '../common/logger.js';
import { TicketVerifier } from '../pki/index.js';
import { accessLevels, type AccessLevel, type PolicyState } from '../policy/index.js';
import { AgentStore, settingKeys, type AgentSessionRecord, type ServiceRecord } from './store/index.js';
import { type RefusalCount } from './store/index.js';
import { buildAdminApi } from './admin-api/index.js';
import type { AgentControl, AgentStatus } from './admin-api/index.js';
import { ChangeFeed } from '../common/change-feed.js';
import { connectionLimitsOf } from '../common/config/index.js';
import { ConnectionGuard } from '../common/net/index.js';
import { wirePageFeed } from './notify/index.js';
import { AgentMetrics } from './admin-api/index.js';
import { AuditLog } from './audit/index.js';
import { agentPaths, loadAgentConfig } from './config.js';
import { SessionGate, type ActiveSession, type GateLimit } from './sessions/index.js';
import { TunnelClient } from './link/index.js';
import { Notifications } from './notify/index.js';
import { AuditCheckpointer } from './audit/index.js';
import { verifyAuditLog, type AuditReport } from './audit/index.js';
import { CallHomeClient } from './link/index.js';
import { UploadChannel } from './attachments/index.js';
import { alpnUpload, genesisHash, type AuditEntry, type AuditCheckpoint } from '../protocol/index.js';
import { HubDialer } from './link/index.js';
import { describeProxy, resolveProxy } from './link/index.js';
import { StationCredentials } from './identity/index.js';
import { CertificateRenewal, type RenewAnswer } from './identity/index.js';
import { TrustBundlePinner } from './identity/index.js';
import { Outbox, settlementRecorder } from './callhome/index.js';
import { Uploader } from './attachments/index.js';
import { ProblemDesk } from './callhome/index.js';
import { payloadRedaction } from './redaction/index.js';
import { SyslogSender, formatSyslog5424 } from './notify/index.js';
import { PolicyControl } from './sessions/index.js';
import { deleteService, putService, type ServiceTarget } from './sessions/index.js';
import { DataRequestDesk } from './data-requests/index.js';
import { SentReportPurger } from './callhome/index.js';
import { testCallHomeFromDataDir, type CallHomeTestReport } from './callhome/index.js';
import { Collectors } from './collectors/index.js';
import { collectAppliance } from './collectors/index.js';
import { listFixDownloads, recordFixEvent, type FixDownload, type FixEvent } from './fixes/index.js';

export interface RuntimeInfo {
  pid: number;
  adminUrl: string;
  stationId: string;
}

export class Agent implements AgentControl {
  readonly policyControl: PolicyControl;
  readonly #notifications: Notifications;
  #callHome: CallHomeClient | undefined;
  #uploadChannel: UploadChannel | undefined;
  #checkpointer: AuditCheckpointer | undefined;
  #renewal: CertificateRenewal | undefined;
  #trustPins: TrustBundlePinner | undefined;
  #syslog: SyslogSender | undefined;
  /** Call-home reports: accepted durably, then delivered to the hub. */
  outbox: Outbox | undefined;
  /** The appliance's problems, each report of them going through the outbox. */
  problems: ProblemDesk | undefined;
  /** Extended error data: staged files, uploaded after their problem's reports. */
  uploader: Uploader | undefined;
  /** The vendor's requests for more error data, fetched on each call-home poll. */
  dataRequests: DataRequestDesk | undefined;
  #sentPurger: SentReportPurger | undefined;
  /** The newest transmission the hub accepted; undefined until read from the log once. */
  #lastCallHome: AgentStatus['lastCallHome'] | undefined;
  readonly #store: AgentStore;
  readonly #space: StoreSpace;
  readonly #audit: AuditLog;
  readonly #gate: SessionGate;
  readonly #tunnel: TunnelClient;
  readonly #dialer: HubDialer;
  readonly #logger: Logger;
  readonly #stationId: string;
  readonly #hub: string;
  #policy: PolicyState;
  #adminApi: Awaited<ReturnType<typeof buildAdminApi>> | undefined;
  /** Live updates for the Diagnostics page. */
  #feed: ChangeFeed | undefined;
  #adminUrl = '';
  #adminGuard: ConnectionGuard | undefined;
  #closed = false;
  /** Heartbeat, inventory and performance reports. */
  collectors: Collectors | undefined;
  #dataDir = '';

  private constructor(parts: {
    store: AgentStore;
    space: StoreSpace;
    audit: AuditLog;
    gate: SessionGate;
    policyControl: PolicyControl;
    notifications: Notifications;
    tunnel: TunnelClient;
    dialer: HubDialer;
    logger: Logger;
    stationId: string;
    hub: string;
    policy: PolicyState;
    runtimePath: string;
  }) {
    this.policyControl = parts.policyControl;
    this.#notifications = parts.notifications;
    this.#store = parts.store;
    this.#space = parts.space;
    this.#audit = parts.audit;
    this.#gate = parts.gate;
    this.#tunnel = parts.tunnel;
    this.#dialer = parts.dialer;
    this.#logger = parts.logger;
    this.#stationId = parts.stationId;
    this.#hub = parts.hub;
    this.#policy = parts.policy;
  }

  static async start(options: {
    dataDir: string;
    adminListen?: string;
    logger: Logger;
    clock?: Clock;
  }): Promise<Agent> {
    const clock = options.clock ?? systemClock;
    const paths = agentPaths(options.dataDir);
    const config = loadAgentConfig(options.dataDir);
    // The "store full" condition: measured on the data directory, told of every write refused.
    const space = new StoreSpace({
      dir: options.dataDir,
      minFreeBytes: config.store.minFreeMb * 1024 * 1024,
      minFreeSetting: 'store.minFreeMb in agent.yaml',
      clock,
      logger: options.logger,
    });
    const store = await AgentStore.open(paths.database, {
      maxBytes: config.store.maxSizeMb * 1024 * 1024,
      maxBytesSetting: 'store.maxSizeMb in agent.yaml',
      onStoreFull: (error) => space.noteFull(error),
    });
    const stationId = await store.getSetting(settingKeys.stationId);
    if (typeof stationId !== 'string') {
      space.close();
      await store.close();
      throw new LifelineError(
        'ENROLL_NOT_ENROLLED',
        `${options.dataDir} holds no enrolled station: run lifeline agent enroll first`,
      );
    }
    const logger = options.logger.child({ stationId });
    const level = await store.getSetting(settingKeys.accessLevel);
    const policy: PolicyState = {
      remoteEnabled: (await store.getSetting(settingKeys.remoteEnabled)) === true,
      // Restricted is the recommended level: it holds until the administrator chooses another.
      accessLevel: accessLevels.includes(level as AccessLevel) ? (level as AccessLevel) : 'restricted',
    };
    const audit = new AuditLog(store, clock, logger);
    const dangling = await store.closeDanglingSessions(clock.now());
    if (dangling > 0)
      await audit.record('agent', 'session.end.recovered', {
        sessions: dangling,
        endReason: 'agent-shutdown',
      });

    const read = (path: string) => readFileSync(path, 'utf8');
    const notifications = new Notifications({ stationId, clock, logger, config, dataDir: options.dataDir });
    // The gate asks the agent for the policy in force; the agent is made after the gate.
    const holder: { agent?: Agent } = {};
    // Refusals by the gate's bounds feed /metrics, which is made further down.
    let countLimitRefusal: (limit: GateLimit) => void = () => undefined;
    // The pinned ticket keys: a ticket-key rotation's trust bundle replaces them (trust-bundle.ts).
    const ticketVerifier = new TicketVerifier(read(paths.hubTicketKey));
    const gate = new SessionGate({
      stationId,
      verifier: ticketVerifier,
      store,
      audit,
      policy: () => holder.agent?.policy ?? { remoteEnabled: false, accessLevel: 'none' },
      clock,
      logger,
      maxConcurrent: config.sessions.maxConcurrent,
      targetConnectTimeoutMs: config.sessions.targetConnectTimeout,
      maxDurationMs: config.sessions.maxDuration,
      idleTimeoutMs: config.sessions.idleTimeout,
      requestTtlMs: config.requests.pendingTtl,
      flood: {
        intervalMs: config.sessions.attemptInterval,
        maxAttemptsPerTechnician: config.sessions.maxAttemptsPerTechnician,
        refusalsAuditedPerTechnician: config.sessions.refusalsAuditedPerTechnician,
      },
      maxPendingRequests: config.requests.maxPending,
      onLimitRefused: (limit) => countLimitRefusal(limit),
      onEvent: (event) => {
        notifications.notify(event.type, event.data);
        // The last session's end may free the tunnel to move back to the preferred hub endpoint.
        if (event.type === 'session.ended') holder.agent?.tunnel.sessionEnded();
      },
    });
    // Fail closed: an audit entry that cannot be written ends every session.
    audit.onFailure = () => gate.stopAll('audit-failure');
    const policyControl = new PolicyControl({
      store,
      audit,
      gate,
      clock,
      rejectionHoldMs: config.requests.rejectionHold,
      notify: (type, data) => notifications.notify(type, data),
    });
    // One set of credentials for every channel: renewal replaces the files and calls reload().
    const credentials = new StationCredentials(paths);
    const proxy = resolveProxy(config.proxy, options.dataDir);
    if (proxy)
      logger.info(
        { proxy: describeProxy(proxy), source: proxy.source, username: proxy.username ?? null },
        'the hub is reached through an HTTP proxy',
      );
    const dialer = new HubDialer({
      endpoints: config.hub.endpoints,
      serverName: config.hub.serverName,
      credentials: () => credentials.current(),
      proxy,
      connectTimeoutMs: config.tunnel.connectTimeout,
      failoverAfterMs: config.hub.failoverAfter,
      failbackIntervalMs: config.hub.failbackInterval,
      clock,
    });
    dialer.on('failback', (to) =>
      logger.info({ endpoint: to.endpoint }, 'the preferred hub endpoint is back'),
    );
    const tunnel = new TunnelClient({
      dialer,
      credentials,
      gate,
      clock,
      logger,
      pingIntervalMs: config.tunnel.pingInterval,
      pingTimeoutMs: config.tunnel.pingTimeout,
      reconnectMinMs: config.tunnel.reconnectMin,
      reconnectMaxMs: config.tunnel.reconnectMax,
    });
    let lastLoggedState = '';
    tunnel.on('state', (status) => {
      if (status.state === lastLoggedState) return;
      lastLoggedState = status.state;
      logger.info(
        { tunnel: status.state, endpoint: status.endpoint, lastError: status.lastError },
        `tunnel ${status.state}`,
      );
    });
    const agent = new Agent({
      store,
      space,
      audit,
      gate,
      policyControl,
      notifications,
      tunnel,
      dialer,
      logger,
      stationId,
      hub: config.hub.endpoints[0] ?? '',
      policy,
      runtimePath: paths.runtime,
    });
    holder.agent = agent;
    // Deadlines and caps of the admin API's connections (it listens further down).
    const adminGuard = new ConnectionGuard({
      limits: connectionLimitsOf(config.admin.connections),
      listener: 'admin API',
      configKey: 'agent.yaml admin.connections',
      logger,
    });
    agent.#adminGuard = adminGuard;
    const metrics = new AgentMetrics({
      clock,
      tunnelState: () => tunnel.status.state,
      activeSessions: () => gate.activeCount,
      outboxCounts: async () => agent.outbox?.store.counts(),
      connectionStats: () => adminGuard.stats(),
      storeFull: () => space.condition !== null,
    });
    audit.onEntry((entry) => metrics.observeAudit(entry));
    countLimitRefusal = (limit) => metrics.observeLimitRefusal(limit);
    agent.#callHome = new CallHomeClient({ dialer });
    const callHome = agent.#callHome;
    agent.#uploadChannel = new UploadChannel({
      connect: async (signal) => (await dialer.connectInUse(alpnUpload, signal)).socket,
    });
    const uploadChannel = agent.#uploadChannel;
    // Failback moves call home to the preferred endpoint: chunks follow it.
    dialer.on('failback', () => uploadChannel.retire());
    agent.#checkpointer = new AuditCheckpointer({
      stationId,
      // The hub checks a checkpoint against the certificate of the connection it came on.
      keyPem: () => credentials.current().keyPem,
      clock,
      logger,
      everyEntries: config.audit.checkpointEntries,
      everyMs: config.audit.checkpointInterval,
      send: async (checkpoint) => {
        await callHome.request('POST', '/v1/audit/checkpoints', checkpoint);
      },
      fetchLatest: async () =>
        (
          await callHome.request<{ checkpoint: { count: number } | null }>(
            'GET',
            '/v1/audit/checkpoints/latest',
          )
        ).checkpoint,
      hashAt: async (seq) => (seq === 0 ? genesisHash : (await store.auditEntry(seq))?.hash),
    });
    const checkpointer = agent.#checkpointer;
    const recordAgent = async (action: string, detail: Record<string, unknown>) => {
      await audit.record('agent', action, detail);
    };
    const trustPins = new TrustBundlePinner({
      paths,
      credentials,
      verifier: ticketVerifier,
      fetch: () => callHome.request('GET', '/v1/trust'),
      record: recordAgent,
      logger,
    });
    agent.#trustPins = trustPins;
    agent.#renewal = new CertificateRenewal({
      stationId,
      credentials,
      paths,
      renew: (csr) => callHome.request<RenewAnswer>('POST', '/v1/certificate/renew', { csr }),
      renewed: async (answer) => {
        // The next request dials with the new certificate, which the hub checks checkpoints against.
        callHome.reconnect();
        uploadChannel.retire();
        await trustPins.pin(answer.trust);
      },
      record: recordAgent,
      clock,
      logger,
    });
    agent.#renewal.start();
    trustPins.start();
    const redaction = await payloadRedaction(store, config.callhome.redact);
    agent.outbox = new Outbox({
      store: store.outbox,
      deliver: (body, signal, headers) => callHome.postRaw('/v1/reports', body, signal, headers),
      deliverBatch: (body, signal, headers) => callHome.postRaw('/v1/reports/batch', body, signal, headers),
      clock,
      logger,
      maxPending: config.callhome.maxPending,
      review: config.callhome.review,
      ...(redaction ? { transformPayload: redaction } : {}),
      recordSettled: settlementRecorder(audit),
      ensureRoom: () => space.ensureRoom(),
    });
    agent.problems = new ProblemDesk({
      store: store.problems,
      outbox: agent.outbox,
      clock,
      logger,
      stormWindowMs: config.callhome.stormWindow,
    });
    agent.problems.watch(agent.outbox);
    await agent.problems.recoverNumbers();
    const pausedUntil = await store.getSetting(settingKeys.callHomePausedUntil);
    const outbox = agent.outbox;
    if (typeof pausedUntil === 'number' && pausedUntil > clock.now()) outbox.pause(pausedUntil);
    outbox.start();
    agent.#sentPurger = new SentReportPurger({
      store: store.outbox,
      keepSentMs: config.callhome.keepSent,
      clock,
      logger,
      record: (action, detail) => audit.record('agent', action, detail),
    });
    agent.#sentPurger.start();
    agent.dataRequests = new DataRequestDesk({
      store: store.dataRequests,
      channel: callHome,
      clock,
      logger,
      record: (actor, action, detail) => audit.record(actor, action, detail),
      pollIntervalMs: config.callhome.pollInterval,
    });
    agent.dataRequests.start();
    const uploader = new Uploader({
      store: store.attachments,
      transmissions: {
        recordUploadStep: async (step) => {
          await store.outbox.recordUploadStep(step);
          if (step.status >= 200 && step.status < 300)
            agent.#lastCallHome = { atMs: step.atMs, kind: step.kind, status: step.status };
        },
      },
      send: (method, path, body, headers, sendOptions) =>
        callHome.sendBytes(method, path, body, headers, sendOptions),
      sendChunkFrame: (chunk, body, sendOptions) => uploadChannel.send(chunk, body, sendOptions),
      prepareChunkChannel: (signal) => uploadChannel.prepare(signal),
      dir: join(options.dataDir, 'attachments'),
      clock,
      logger,
      audit: (action, detail, actor = 'agent') => audit.record(actor, action, detail),
      room: space,
    });
    agent.uploader = uploader;
    // Room again: what backed off because the store could not be written goes on at once.
    space.on('change', (condition) => {
      if (condition !== null) return;
      outbox.storeRecovered();
      uploader.wake();
      // An audit log that failed for lack of room is tried again now, so sessions are allowed
      // again without waiting for the next session request to try it.
      if (!audit.healthy) void audit.record('agent', 'audit.resumed', {}).catch(() => undefined);
    });
    agent.outbox.on('attempt', (event) => {
      metrics.observeDelivery(event);
      if (event.type === 'failed') return;
      // An attachment waits for its problem's reports: each delivery may unblock one.
      uploader.wake();
      if (event.type === 'sent')
        agent.#lastCallHome = { atMs: clock.now(), kind: event.kind, status: event.status };
    });
    if (typeof pausedUntil === 'number' && pausedUntil > clock.now()) uploader.pause(pausedUntil);
    uploader.start();
    agent.#dataDir = options.dataDir;
    const applianceModel = config.appliance;
    agent.collectors = new Collectors({
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
    });
    agent.collectors.start();
    const head = await store.lastAuditEntry();
    if (head) checkpointer.observe(head);
    audit.onEntry((entry) => checkpointer.observe(entry));
    const syslog = config.audit.syslog;
    if (syslog) {
      const { host, port } = parseHostPort(syslog.address, 'audit.syslog.address');
      const sender = new SyslogSender({ transport: syslog.transport, host, port, logger, clock });
      agent.#syslog = sender;
      const format = { hostname: hostname(), stationId };
      audit.onEntry((entry) => sender.send(formatSyslog5424(entry, format)));
    }
    await audit.record('agent', 'agent.start', {
      remoteEnabled: policy.remoteEnabled,
      accessLevel: policy.accessLevel,
    });

    const adminToken = read(paths.adminToken).trim();
    const listen = parseHostPort(options.adminListen ?? config.admin.listen, 'admin listen address');
    const feed = new ChangeFeed();
    agent.#feed = feed;
    wirePageFeed(feed, {
      onAudit: (listener) => audit.onEntry((entry) => listener(entry.action)),
      onTunnelState: (listener) => tunnel.on('state', () => listener()),
      onHealth: (listener) => {
        space.on('change', () => listener());
        audit.onHealthChange(() => listener());
      },
      onCallHome: (listener) => {
        outbox.on('attempt', () => listener());
        outbox.on('settled', () => listener());
      },
    });
    const api = await buildAdminApi(agent, adminToken, logger, {
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
    });
    await api.listen({ host: listen.host, port: listen.port });
    const address = api.server.address() as AddressInfo;
    agent.#adminApi = api;
    // Bound to every address, the CLI and the printed link use loopback (0.0.0.0 is no place to go).
    const urlHost =
      address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
    agent.#adminUrl = `http://${formatHostPort({ host: urlHost, port: address.port })}`;
    const runtime: RuntimeInfo = { pid: process.pid, adminUrl: agent.#adminUrl, stationId };
    try {
      replaceFile(paths.runtime, JSON.stringify(runtime, null, 2) + '\n');
    } catch (err) {
      // The CLI finds the agent through this file: without it the agent cannot be reached.
      throw await space.failed(err, paths.runtime);
    }
    logger.info({ adminUrl: agent.#adminUrl }, 'admin API listening');
    if (policy.remoteEnabled) tunnel.enable();
    gate.startSweeping();
    return agent;
  }

  get policy(): PolicyState {
    return this.#policy;
  }

  get adminUrl(): string {
    return this.#adminUrl;
  }

  get stationId(): string {
    return this.#stationId;
  }

  get tunnel(): TunnelClient {
    return this.#tunnel;
  }

  async status(): Promise<AgentStatus> {
    return {
      stationId: this.#stationId,
      // The endpoint in use now; the first one until any was dialled.
      hub: this.#tunnel.status.endpoint ?? this.#dialer.current.endpoint ?? this.#hub,
      remoteEnabled: this.#policy.remoteEnabled,
      accessLevel: this.#policy.accessLevel,
      mfa: (await this.policyControl.mfaRequired()) ? 'required' : 'optional',
      tunnel: this.#tunnel.status,
      certificate: this.#renewal?.status() ?? null,
      hubEndpoints: this.#dialer.status(),
      proxy: this.#dialer.proxyStatus(),
      lastCallHome: await this.#lastAcceptedCallHome(),
      activeSessions: this.#gate.activeCount,
      pendingRequests: await this.policyControl.countPending(),
      auditHealthy: this.#audit.healthy,
      storeFull: this.#space.condition,
      oneTimeGrant: await this.policyControl.currentGrant(),
    };
  }

  /** Kept up to date by the outbox and the uploader; the transmission log is read only at first. */
  async #lastAcceptedCallHome(): Promise<AgentStatus['lastCallHome']> {
    if (this.#lastCallHome !== undefined) return this.#lastCallHome;
    // The newest transmissions are few to scan: a failed one is followed by a retry soon enough.
    const recent = (await this.outbox?.store.listTransmissions({ newestFirst: true, limit: 50 })) ?? [];
    const accepted = recent.find((t) => t.status >= 200 && t.status < 300);
    // An event may have set it while the log was read: the event is newer.
    this.#lastCallHome ??= accepted
      ? { atMs: accepted.atMs, kind: accepted.kind, status: accepted.status }
      : null;
    return this.#lastCallHome;
  }

  refusals(): Promise<RefusalCount[]> {
    return this.#store.policy.listRefusals();
  }

  async setRemote(enabled: boolean, actor: string): Promise<void> {
    const before = this.#policy.remoteEnabled;
    // Audit first: a change that cannot be recorded does not happen.
    await this.#audit.record(actor, 'setting.remote', { from: before, to: enabled });
    await this.#store.setSetting(settingKeys.remoteEnabled, enabled);
    this.#policy = { ...this.#policy, remoteEnabled: enabled };
    if (enabled) {
      this.#tunnel.enable();
    } else {
      const ended = this.#gate.stopAll('remote-service-off');
      this.#tunnel.disable();
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

  sessions(): ActiveSession[] {
    return this.#gate.list();
  }

  recentSessions(): Promise<AgentSessionRecord[]> {
    return this.#store.listSessions(50);
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
    if (untilMs === null) this.outbox?.resume();
    else this.outbox?.pause(untilMs);
    if (untilMs === null) this.uploader?.resume();
    else this.uploader?.pause(untilMs);
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
    const callHome = this.#callHome;
    return verifyAuditLog(this.#store, async () => {
      if (!callHome) return null;
      const answer = await callHome.request<{ checkpoint: AuditCheckpoint | null }>(
        'GET',
        '/v1/audit/checkpoints/latest',
      );
      return answer.checkpoint;
    });
  }

  /** Drains: ends sessions, closes the tunnel and the API, then the store. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#gate.close();
    this.#gate.stopAll('agent-shutdown');
    this.#tunnel.close();
    this.#dialer.close();
    // Open event streams would hold the admin API open.
    this.#feed?.close();
    await this.#adminApi?.close();
    this.#adminGuard?.close();
    await this.#notifications.close();
    this.#checkpointer?.close();
    await this.#renewal?.close();
    this.#trustPins?.close();
    // The collectors queue their last samples into the outbox before it closes.
    await this.collectors?.close();
    // A chunk in flight is abandoned, not awaited: the hub's count says where to resume.
    await this.uploader?.close();
    await this.outbox?.close();
    await this.dataRequests?.close();
    await this.#sentPurger?.close();
    // Let session ends reach the store before it closes.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Refusals counted into a summary since its interval began are written now, not lost.
    await this.#gate.flushRefusalSummaries();
    await this.#audit.record('agent', 'agent.stop', {}).catch(() => undefined);
    await this.#checkpointer?.flush();
    this.#callHome?.close();
    this.#uploadChannel?.close();
    await this.#syslog?.close();
    this.#space.close();
    await this.#store.close();
    this.#logger.info('agent stopped');
  }
}
