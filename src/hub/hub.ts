// The running hub: station port (tunnels and call home), technician API, session broker.

import type { TLSSocket } from 'node:tls';
import { systemClock, type Clock } from '../common/clock.js';
import { parseHostPort } from '../common/net/index.js';
import type { Logger } from '../common/logger.js';
import { TicketSigner } from '../pki/index.js';
import { openSqliteHubStore } from './store/index.js';
import { type HubStore } from './store/index.js';
import { buildCallHomeApi } from './callhome/index.js';
import { hubPaths, loadHubConfig, type HubConfig } from './config.js';
import { HubAudit } from './audit/index.js';
import { SessionBroker } from './sessions/index.js';
import { StationListener } from './stations/index.js';
import { TunnelAdmission } from './stations/index.js';
import { TunnelJournal } from './stations/index.js';
import { TechnicianAuth } from './technicians/index.js';
import { buildTechnicianApi } from './console/index.js';
import { TunnelRegistry } from './stations/index.js';
import { SilenceMonitor } from './stations/index.js';
import { RetentionScheduler, problemDataPurger } from './retention/index.js';
import { attachmentsDirOf } from './attachments/index.js';
import { ensureFixKey } from './fixes/index.js';
import { HubMetrics, ensureScrapeToken } from './console/index.js';
import { RevocationWatch } from './stations/index.js';
import { LoginLimiter } from './technicians/index.js';
import { UserWatch } from './technicians/index.js';
import { HubTrust } from './trust/index.js';
import { CaCrl, revokedStationSerials } from './trust/index.js';
import { ChangeFeed } from '../common/change-feed.js';
import { connectionLimitsOf } from '../common/config/index.js';
import { ConnectionGuard } from '../common/net/index.js';
import { SessionRequestShares } from './sessions/index.js';
import { StoreSpace } from '../common/disk/index.js';
import { ShareRefusals } from './shares/index.js';

export class Hub {
  readonly config: Readonly<HubConfig>;
  readonly store: HubStore;
  readonly registry: TunnelRegistry;
  /** Rate of new tunnels; its counters feed /metrics. */
  readonly admission: TunnelAdmission;
  stationPort = 0;
  apiPort = 0;
  readonly #listener: StationListener;
  readonly #technicianApi: ReturnType<typeof buildTechnicianApi>;
  readonly #callHome: Awaited<ReturnType<typeof buildCallHomeApi>>;
  readonly #broker: SessionBroker;
  readonly #logger: Logger;
  #retention: RetentionScheduler | undefined;
  #consoleFeed: ChangeFeed | undefined;
  #silence: SilenceMonitor | undefined;
  #tunnelJournal: TunnelJournal | undefined;
  #revocations: RevocationWatch | undefined;
  #users: UserWatch | undefined;
  #trust: HubTrust | undefined;
  #guards: ConnectionGuard[] = [];
  #space: StoreSpace | undefined;
  #closing: Promise<void> | undefined;

  private constructor(parts: {
    config: Readonly<HubConfig>;
    store: HubStore;
    registry: TunnelRegistry;
    admission: TunnelAdmission;
    listener: StationListener;
    technicianApi: ReturnType<typeof buildTechnicianApi>;
    callHome: Awaited<ReturnType<typeof buildCallHomeApi>>;
    broker: SessionBroker;
    logger: Logger;
  }) {
    this.config = parts.config;
    this.store = parts.store;
    this.registry = parts.registry;
    this.admission = parts.admission;
    this.#listener = parts.listener;
    this.#technicianApi = parts.technicianApi;
    this.#callHome = parts.callHome;
    this.#broker = parts.broker;
    this.#logger = parts.logger;
  }

  static async start(options: { dataDir: string; logger: Logger; clock?: Clock }): Promise<Hub> {
    const clock = options.clock ?? systemClock;
    const logger = options.logger;
    const config = loadHubConfig(options.dataDir);
    const paths = hubPaths(options.dataDir);
    // CA, server certificate and ticket key, as a rotation leaves them (see trust-rotation.ts).
    // A hub initialised before fixes existed gets its fix key now.
    const trust = new HubTrust({
      dataDir: options.dataDir,
      paths,
      fixPublicKeyPem: ensureFixKey(paths).publicKeyPem,
      now: () => clock.now(),
    });
    // The technician API keeps the server certificate it started with until the next hub start.
    const certChainPem = trust.material.serverChainPem;
    const keyPem = trust.material.serverKeyPem;
    const ticketSigner = new TicketSigner(trust.material.ticketPrivateKeyPem);
    // The "store full" condition: measured on the data directory, told of every write refused.
    const space = new StoreSpace({
      dir: options.dataDir,
      minFreeBytes: config.store.minFreeMb * 1024 * 1024,
      minFreeSetting: 'store.minFreeMb in hub.yaml',
      clock,
      logger,
    });
    const store = await openSqliteHubStore(paths.database, { onStoreFull: (error) => space.noteFull(error) });
    await store.clearConnections(clock.now());
    const audit = new HubAudit(store, clock, logger);
    // Refusals of users' and stations' shares: counted for /metrics once it exists (shares.ts).
    const shareRefusals = new ShareRefusals(clock, logger);

    // Connects and disconnects reach the store in batches: a reconnect storm must not stall the hub.
    const tunnelJournal = new TunnelJournal({ store, audit, clock, logger });
    const registry = new TunnelRegistry({
      clock,
      logger,
      // Agents ping every 10 s (at most every 15 s): three missed pings and the tunnel is dead.
      idleTimeoutMs: 30_000,
      events: tunnelJournal,
    });
    const auth = new TechnicianAuth({
      store,
      audit,
      clock,
      tokenTtlMs: config.technicianTokenTtl,
      authorizedGroup: config.authorizedGroup,
      limiter: new LoginLimiter(
        {
          maxFailuresPerUser: config.login.maxFailuresPerUser,
          maxFailuresPerAddress: config.login.maxFailuresPerAddress,
          windowMs: config.login.window,
          backoffMs: config.login.backoff,
          maxBackoffMs: config.login.maxBackoff,
        },
        clock,
      ),
    });
    const broker = new SessionBroker({
      auth,
      registry,
      signer: ticketSigner,
      store,
      audit,
      clock,
      logger,
      ticketTtlMs: config.ticketTtl,
      openTimeoutMs: config.sessionOpenTimeout,
      shares: new SessionRequestShares(
        {
          perWindow: config.shares.perUser.sessionRequests,
          windowMs: config.shares.perUser.sessionRequestWindow,
          inFlight: config.shares.perUser.sessionOpens,
        },
        clock,
      ),
      refusals: shareRefusals,
    });
    // Each port keeps its own count of unauthenticated connections, against the same limits.
    const limits = connectionLimitsOf(config.connections);
    const guards = {
      station: new ConnectionGuard({
        limits,
        listener: 'station port',
        configKey: 'hub.yaml connections',
        logger,
      }),
      technician: new ConnectionGuard({
        limits,
        listener: 'technician API',
        configKey: 'hub.yaml connections',
        logger,
      }),
    };
    // Reports stored feed /metrics, which is made further down with the parts it reads from.
    let countStoredReport: (kind: string) => void = () => undefined;
    let countStoredChunk: (via: string) => void = () => undefined;
    const callHome = await buildCallHomeApi({
      trust: () => trust.material,
      dataDir: options.dataDir,
      stationCertValidityMs: config.stationCertValidity,
      renewalGraceMs: config.renewalGrace,
      store,
      audit,
      clock,
      logger,
      onReportStored: (kind) => countStoredReport(kind),
      onChunkStored: (via) => countStoredChunk(via),
      guard: guards.station,
      uploadShares: {
        uploads: config.shares.perStation.uploads,
        pendingBytes: config.shares.perStation.uploadPendingGb * 1024 ** 3,
        countForMs: config.retention.problemData,
        refusals: shareRefusals,
      },
      room: space,
    });
    const admission = new TunnelAdmission({ tunnelsPerSecond: config.admission.tunnelsPerSecond, clock });
    const listener = new StationListener({
      keyPem,
      certChainPem,
      caPem: trust.material.trustedCaPems.join(''),
      store,
      registry,
      audit,
      admission,
      guard: guards.station,
      logger,
      callHome: (socket: TLSSocket) => callHome.accept(socket),
      upload: (socket: TLSSocket) => callHome.acceptUpload(socket),
    });
    const metrics = new HubMetrics({
      clock,
      tunnels: () => registry.size,
      activeSessions: () => broker.activeCount,
      admissionStats: () => admission.stats(),
      stationHealth: () => store.health.listHealth(),
      connectionStats: () => [
        { listener: 'station', ...guards.station.stats() },
        { listener: 'technician', ...guards.technician.stats() },
      ],
      storeFull: () => space.condition !== null,
    });
    audit.onRecord((action, _stationId, detail) => metrics.observeAudit(action, detail));
    shareRefusals.onRefused = (limit) => metrics.observeLimitRefusal(limit);
    countStoredReport = (kind) => metrics.observeReportStored(kind);
    countStoredChunk = (via) => metrics.observeChunkStored(via);
    const ops = {
      metrics,
      scrapeToken: ensureScrapeToken(paths.metricsToken),
      // A lookup by key answers only if the database does; the station need not exist.
      healthy: async () => {
        await store.getStation('ST-0000-0000-0');
        return true;
      },
      storeFull: () => space.condition !== null,
    };
    // Live updates for the hub console, from the hub's audit entries (console-routes.ts).
    const consoleFeed = new ChangeFeed();
    const technicianApi = buildTechnicianApi({
      keyPem,
      certChainPem,
      auth,
      broker,
      registry,
      store,
      logger,
      ops,
      guard: guards.technician,
      crl: new CaCrl({
        ca: () => trust.material.currentCa,
        revokedSerials: revokedStationSerials(store.certSerials, () => trust.material.currentCa, clock),
        clock,
      }),
      console: {
        audit,
        clock,
        dataDir: options.dataDir,
        retention: config.retention,
        feed: consoleFeed,
        shares: config.shares.perUser,
        refusals: shareRefusals,
        storeFull: () => space.condition,
      },
    });
    const hub = new Hub({
      config,
      store,
      registry,
      admission,
      listener,
      technicianApi,
      callHome,
      broker,
      logger,
    });
    const stationAddress = parseHostPort(config.listen, 'listen');
    const apiAddress = parseHostPort(config.apiListen, 'apiListen');
    hub.#consoleFeed = consoleFeed;
    hub.#guards = [guards.station, guards.technician];
    hub.#space = space;
    // The console's banner comes and goes with the condition.
    space.on('change', () => consoleFeed.changed('hub'));
    hub.stationPort = (await listener.listen(stationAddress)).port;
    await technicianApi.listen({ host: apiAddress.host, port: apiAddress.port });
    const apiInfo = technicianApi.server.address();
    hub.apiPort = typeof apiInfo === 'object' && apiInfo ? apiInfo.port : 0;
    logger.info(
      { stationPort: hub.stationPort, apiPort: hub.apiPort, apiUrl: config.apiUrl },
      'hub listening',
    );
    const { interval: retentionIntervalMs, ...retention } = config.retention;
    hub.#retention = new RetentionScheduler({
      store,
      config: retention,
      clock,
      logger,
      intervalMs: retentionIntervalMs,
      purgeProblemData: problemDataPurger(store, attachmentsDirOf(options.dataDir)),
    });
    hub.#retention.start();
    hub.#tunnelJournal = tunnelJournal;
    hub.#silence = new SilenceMonitor({ store, audit, clock, logger });
    hub.#silence.start();
    hub.#revocations = new RevocationWatch({ store, closer: listener, clock, logger });
    hub.#revocations.start();
    // `lifeline hub user disable` ends the user's sessions within a second (see user-watch.ts).
    hub.#users = new UserWatch({
      store,
      audit,
      logger,
      forgetUser: (name) => auth.forgetUser(name),
      endUserSessions: (names) => broker.endUserSessions(names),
    });
    hub.#users.start();
    // A rotation started by the CLI, or an overlap that ended: new connections get the new material.
    trust.onChange = (material, ended) => {
      listener.setCredentials({
        keyPem: material.serverKeyPem,
        certChainPem: material.serverChainPem,
        caPem: material.trustedCaPems.join(''),
      });
      ticketSigner.replaceKey(material.ticketPrivateKeyPem);
      logger.info({ ended, overlapEndsAtMs: material.bundle.overlapEndsAtMs }, 'hub trust material changed');
    };
    trust.onError = (err) => logger.warn({ err }, 'checking the trust rotation failed');
    trust.start();
    hub.#trust = trust;
    return hub;
  }

  /** Stops accepting, tells agents the hub is going away, ends sessions, closes the store. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const stopAccepting = this.#listener.close();
      // GOAWAY first: agents end their sessions and the end reason reaches the technicians.
      this.registry.closeAll('the hub is shutting down');
      await new Promise((resolve) => setTimeout(resolve, 300));
      this.#broker.closeAll();
      // Open event streams of console pages would hold the technician API open.
      this.#consoleFeed?.close();
      await this.#technicianApi.close();
      await this.#callHome.close();
      await this.#retention?.close();
      await this.#silence?.close();
      await this.#revocations?.close();
      await this.#users?.close();
      this.#trust?.close();
      for (const guard of this.#guards) guard.close();
      this.#space?.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      this.registry.destroyAll();
      this.#listener.destroyAll();
      await stopAccepting;
      await this.#tunnelJournal?.close();
      await this.store.clearConnections(Date.now());
      await this.store.close();
      this.#logger.info('hub stopped');
    })();
    return this.#closing;
  }
}
