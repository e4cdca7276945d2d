// The running hub: its parts started in order (store, trust, call home, sessions, the technician API,
// the station port, the background loops) and closed in reverse. A start that fails half way closes
// what it had opened before the error reaches the caller. A node told to stop drains first: it
// sends stations and new requests elsewhere and lets running sessions finish, up to a deadline.

import { hostname } from 'node:os';
import { systemClock, type Clock } from '../common/clock.js';
import { CloseStack } from '../common/close-stack.js';
import { connectionLimitsOf } from '../common/config/index.js';
import { StoreSpace } from '../common/disk/index.js';
import type { Logger } from '../common/logger.js';
import { ConnectionGuard, formatHostPort, parseHostPort } from '../common/net/index.js';
import { TicketSigner } from '../pki/index.js';
import { goawayHintText } from '../protocol/index.js';
import { openBlobStore } from './attachments/index.js';
import { HubAudit } from './audit/index.js';
import {
  NodeHeartbeat,
  PeerLinks,
  PeerSessionServer,
  ensureNodeCert,
  loadNodeIdentity,
  openClusterTrustMirror,
  stationReach,
  type StationSessionRequest,
} from './cluster/index.js';
import { buildCallHomeApi } from './callhome/index.js';
import { hubPaths, loadHubConfig, type HubConfig } from './config.js';
import { HubMetrics, startTechnicianApi } from './console/index.js';
import { ensureFixKey } from './fixes/index.js';
import { startRetention } from './retention/index.js';
import { SessionBroker, SessionRequestShares, sessionRequestLimitsOf } from './sessions/index.js';
import { ShareRefusals } from './shares/index.js';
import {
  TunnelAdmission,
  TunnelJournal,
  TunnelRegistry,
  startStationPort,
  type StationListenerCredentials,
} from './stations/index.js';
import { openHubStore, type HubStore } from './store/index.js';
import { LoginLimiter, TechnicianAuth, UserWatch, loginLimitsOf } from './technicians/index.js';
import { CaCrl, HubTrust, revokedStationSerials, type HubTrustMaterial } from './trust/index.js';

export interface HubStartOptions {
  dataDir: string;
  logger: Logger;
  clock?: Clock;
}

export class Hub {
  readonly config: Readonly<HubConfig>;
  readonly store: HubStore;
  readonly registry: TunnelRegistry;
  /** Rate of new tunnels; its counters feed /metrics. */
  readonly admission: TunnelAdmission;
  readonly stationPort: number;
  readonly apiPort: number;
  readonly #parts: CloseStack;
  readonly #logger: Logger;
  readonly #clock: Clock;
  /** What a drain stops taking new work: session requests, call-home connections. */
  readonly #broker: SessionBroker;
  readonly #callHome: { drain(hint: string): number };
  #closing: Promise<void> | undefined;
  #draining: Promise<void> | undefined;

  private constructor(running: {
    config: Readonly<HubConfig>;
    store: HubStore;
    registry: TunnelRegistry;
    admission: TunnelAdmission;
    stationPort: number;
    apiPort: number;
    parts: CloseStack;
    logger: Logger;
    clock: Clock;
    broker: SessionBroker;
    callHome: { drain(hint: string): number };
  }) {
    this.config = running.config;
    this.store = running.store;
    this.registry = running.registry;
    this.admission = running.admission;
    this.stationPort = running.stationPort;
    this.apiPort = running.apiPort;
    this.#parts = running.parts;
    this.#logger = running.logger;
    this.#clock = running.clock;
    this.#broker = running.broker;
    this.#callHome = running.callHome;
  }

  /** Sessions relayed through this node now. */
  get activeSessions(): number {
    return this.#broker.activeCount;
  }

  /**
   * Stops this node gracefully: new tunnels are refused and connected stations told to reconnect
   * elsewhere (GOAWAY with a `reconnect=elsewhere` hint), new session requests get 503
   * HUB_DRAINING, call-home connections are sent elsewhere once their requests in flight are
   * answered. Running sessions go on until they end or `deadlineMs` (hub.yaml drain.deadline)
   * passes, when they end with `hub-drain-deadline`. Then the hub closes as close() does.
   * Idempotent; resolves once the hub has stopped.
   */
  drain(options: { deadlineMs?: number } = {}): Promise<void> {
    this.#draining ??= this.#drain(options.deadlineMs ?? this.config.drain.deadline)
      .catch((err: unknown) => this.#logger.error({ err }, 'draining the hub failed; closing it'))
      .then(() => this.close());
    return this.#draining;
  }

  static async start(options: HubStartOptions): Promise<Hub> {
    const parts = new CloseStack({
      onError: (err, part) => options.logger.warn({ err, part }, 'closing a part of the hub failed'),
    });
    try {
      return await Hub.#startParts(options, parts);
    } catch (err) {
      await parts.close().catch((closeErr: unknown) => {
        options.logger.warn({ err: closeErr }, 'closing what a failed start opened failed');
      });
      throw err;
    }
  }

  /**
   * Tells agents the hub is going away and waits for their tunnels to close (their sessions end
   * with that reason), then closes the technician API, call home and the store. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#parts.close().then(() => this.#logger.info('hub stopped'));
    return this.#closing;
  }

  async #drain(deadlineMs: number): Promise<void> {
    const logger = this.#logger;
    const broker = this.#broker;
    const registry = this.registry;
    const deadlineAtMs = this.#clock.now() + deadlineMs;
    this.admission.drain(deadlineAtMs);
    broker.drain();
    const hint = goawayHintText({ ...this.admission.drainHint(), elsewhere: true });
    const tunnels = registry.drainAll(hint);
    const callHome = this.#callHome.drain(hint);
    logger.info(
      { deadlineMs, sessions: broker.activeCount, tunnels, callHomeConnections: callHome },
      'hub draining: new tunnels and session requests are sent elsewhere; running sessions may finish',
    );
    // Real time, whatever the hub's clock: the deadline is how long the process may still run.
    const startedAt = performance.now();
    let loggedAt = startedAt;
    const busy = () => broker.activeCount > 0 || registry.size > 0;
    while (busy() && performance.now() - startedAt < deadlineMs) {
      await delay(Math.min(100, Math.max(1, deadlineMs - (performance.now() - startedAt))));
      if (performance.now() - loggedAt >= 5000 && busy()) {
        loggedAt = performance.now();
        logger.info(
          {
            sessions: broker.activeCount,
            tunnels: registry.size,
            deadlineInMs: Math.max(0, Math.round(deadlineMs - (loggedAt - startedAt))),
          },
          'hub draining: sessions still running',
        );
      }
    }
    if (broker.activeCount === 0) {
      logger.info({ tookMs: Math.round(performance.now() - startedAt) }, 'hub drained: no session running');
      return;
    }
    const ended = broker.endAll('hub-drain-deadline');
    logger.warn({ ended, deadlineMs }, 'hub drain deadline passed: ending the sessions still running');
    // Their end reason reaches the technicians before the tunnels and the API close.
    for (let waited = 0; broker.activeCount > 0 && waited < 2000; waited += 50) await delay(50);
  }

  static async #startParts(options: HubStartOptions, parts: CloseStack): Promise<Hub> {
    const { dataDir, logger } = options;
    const clock = options.clock ?? systemClock;
    const config = loadHubConfig(dataDir);
    const paths = hubPaths(dataDir);

    // The "store full" condition: measured on the data directory, told of every write refused.
    const space = parts.use(
      'store space',
      new StoreSpace({
        dir: dataDir,
        minFreeBytes: config.store.minFreeMb * 1024 * 1024,
        minFreeSetting: 'store.minFreeMb in hub.yaml',
        clock,
        logger,
      }),
    );
    const store = parts.use(
      'store',
      await openHubStore({
        store: config.store,
        dataDir,
        sqlitePath: paths.database,
        onStoreFull: (error) => space.noteFull(error),
      }),
    );
    // This node holds no station's tunnel before it listens, nor once it has stopped; other nodes'
    // stations are theirs.
    const node = loadNodeIdentity(dataDir);
    await store.clearConnections(clock.now(), node.id);
    parts.defer('connected stations', () => store.clearConnections(clock.now(), node.id));
    // On a cluster node, the shared files (CA, ticket key, a rotation under way) as the cluster has
    // them now, then mirrored while the node runs (trust-mirror.ts).
    const mirror = await openClusterTrustMirror({ store, dataDir, apiUrl: config.apiUrl, logger });
    // CA, server certificate and ticket key as a rotation leaves them (trust-rotation.ts); a hub
    // initialised before fixes existed gets its fix key now.
    const trust = new HubTrust({
      dataDir,
      paths,
      fixPublicKeyPem: ensureFixKey(paths).publicKeyPem,
      now: () => clock.now(),
    });
    const signer = new TicketSigner(trust.material.ticketPrivateKeyPem);
    // The bytes of attachments (hub.yaml blobs:); closed after everything that writes or reads them.
    const blobs = parts.use('blob store', openBlobStore(config.blobs, dataDir));
    const audit = new HubAudit(store, clock, logger);
    // Refusals of users' and stations' shares, counted for /metrics (shares.ts).
    const refusals = new ShareRefusals(clock, logger);
    // Each port keeps its own count of unauthenticated connections, against the same limits.
    const guard = (listener: string) =>
      parts.use(
        `connection guard of the ${listener}`,
        new ConnectionGuard({
          limits: connectionLimitsOf(config.connections),
          listener,
          configKey: 'hub.yaml connections',
          logger,
        }),
      );
    const guards = { station: guard('station port'), technician: guard('technician API') };

    // Connects and disconnects reach the store in batches: a reconnect storm must not stall the hub.
    const journal = parts.use(
      'tunnel journal',
      new TunnelJournal({ store, nodeId: node.id, audit, clock, logger }),
    );
    // Agents ping every 10 s (at most every 15 s): three missed pings and the tunnel is dead.
    const registry = new TunnelRegistry({ clock, logger, idleTimeoutMs: 30_000, events: journal });
    const admission = new TunnelAdmission({ tunnelsPerSecond: config.admission.tunnelsPerSecond, clock });
    const auth = new TechnicianAuth({
      store,
      audit,
      clock,
      tokenTtlMs: config.technicianTokenTtl,
      authorizedGroup: config.authorizedGroup,
      limiter: new LoginLimiter(loginLimitsOf(config.login), clock),
    });
    // Sessions for stations whose tunnel another node of the cluster holds go over a link to it.
    // Reissued from the new CA when a CA rotation ends (below): peers then trust only that CA.
    let nodeCert = await ensureNodeCert(dataDir, node, clock.now());
    const peers = parts.use(
      'links to other hub nodes',
      new PeerLinks({
        credentials: () => ({
          keyPem: nodeCert.keyPem,
          certPem: nodeCert.certPem,
          caPem: trust.material.trustedCaPems.join(''),
        }),
        logger,
      }),
    );
    const openLocal = (stationId: string, request: StationSessionRequest) =>
      registry.openSession(stationId, request);
    const peerSessions = parts.use(
      'sessions for other hub nodes',
      new PeerSessionServer({ openLocal, logger }),
    );
    const broker = new SessionBroker({
      auth,
      registry,
      openStation: stationReach({
        self: node,
        hasLocal: (stationId) => registry.has(stationId),
        openLocal,
        store,
        peers,
        clock,
      }),
      signer,
      store,
      audit,
      clock,
      logger,
      ticketTtlMs: config.ticketTtl,
      openTimeoutMs: config.sessionOpenTimeout,
      shares: new SessionRequestShares(sessionRequestLimitsOf(config.shares.perUser), clock),
      refusals,
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
    refusals.onRefused = (limit) => metrics.observeLimitRefusal(limit);

    const callHome = parts.use(
      'call home',
      await buildCallHomeApi({
        trust: () => trust.material,
        dataDir,
        stationCertValidityMs: config.stationCertValidity,
        renewalGraceMs: config.renewalGrace,
        store,
        audit,
        clock,
        logger,
        onReportStored: (kind) => metrics.observeReportStored(kind),
        onChunkStored: (via) => metrics.observeChunkStored(via),
        guard: guards.station,
        uploadShares: {
          uploads: config.shares.perStation.uploads,
          pendingBytes: config.shares.perStation.uploadPendingGb * 1024 ** 3,
          countForMs: config.retention.problemData,
          refusals,
        },
        blobs,
        room: space,
      }),
    );
    const technicianApi = parts.use(
      'technician API',
      await startTechnicianApi({
        address: parseHostPort(config.apiListen, 'apiListen'),
        // Kept until the next start: a rotation reaches the station port only (see trust-rotation.ts).
        keyPem: trust.material.serverKeyPem,
        certChainPem: trust.material.serverChainPem,
        auth,
        broker,
        registry,
        store,
        logger,
        metrics,
        scrapeTokenPath: paths.metricsToken,
        space,
        guard: guards.technician,
        crl: new CaCrl({
          ca: () => trust.material.currentCa,
          revokedSerials: revokedStationSerials(store.certSerials, () => trust.material.currentCa, clock),
          clock,
        }),
        console: {
          audit,
          clock,
          blobs,
          retention: config.retention,
          shares: config.shares.perUser,
          refusals,
        },
      }),
    );
    const stationPort = parts.use(
      'station port',
      await startStationPort({
        address: parseHostPort(config.listen, 'listen'),
        nodeId: node.id,
        credentials: stationCredentials(trust.material),
        store,
        audit,
        registry,
        admission,
        guard: guards.station,
        clock,
        logger,
        callHome,
        peer: (socket) => peerSessions.accept(socket),
      }),
    );

    // Closed before the station port: the node is marked stopped, then its tunnels close.
    const heartbeat = await NodeHeartbeat.start({
      store,
      identity: node,
      stationAddress: peerAddressOf(config),
      apiUrl: config.apiUrl,
      clock,
      logger,
    });
    parts.use('node heartbeat', heartbeat);

    parts.use(
      'retention',
      startRetention({ store, config: config.retention, clock, logger, blobs, nodeId: node.id }),
    );
    // `lifeline hub user disable` ends the user's sessions within a second (see user-watch.ts).
    parts
      .use(
        'user watch',
        new UserWatch({
          store,
          audit,
          logger,
          forgetUser: (name) => auth.forgetUser(name),
          endUserSessions: (names) => broker.endUserSessions(names),
        }),
      )
      .start();
    // A rotation started by the CLI, or an overlap that ended: new connections get the new material.
    let currentCaPem = trust.material.currentCa.certPem;
    trust.onChange = (material, ended) => {
      stationPort.setCredentials(stationCredentials(material));
      signer.replaceKey(material.ticketPrivateKeyPem);
      logger.info({ ended, overlapEndsAtMs: material.bundle.overlapEndsAtMs }, 'hub trust material changed');
      // An overlap this node finished: the cluster's files follow (the first node to push wins;
      // the others find the same files when they pull).
      if (ended.length > 0 && mirror)
        mirror
          .push(clock.now())
          .catch((err: unknown) => logger.warn({ err }, "could not push the cluster's files"));
      // The CA changed (this node finished the overlap, or took the result from another node).
      if (material.currentCa.certPem !== currentCaPem) {
        currentCaPem = material.currentCa.certPem;
        ensureNodeCert(dataDir, node, clock.now()).then(
          (cert) => (nodeCert = cert),
          (err: unknown) => logger.warn({ err }, 'could not reissue the node certificate from the new CA'),
        );
      }
    };
    trust.onError = (err) => logger.warn({ err }, 'checking the trust rotation failed');
    parts.use('trust rotation', trust).start();
    if (mirror) parts.use('cluster trust mirror', mirror).start();

    logger.info(
      { stationPort: stationPort.port, apiPort: technicianApi.port, apiUrl: config.apiUrl },
      'hub listening',
    );
    return new Hub({
      config,
      store,
      registry,
      admission,
      stationPort: stationPort.port,
      apiPort: technicianApi.port,
      parts,
      logger,
      clock,
      broker,
      callHome,
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Where the other nodes reach this node's station port (hub.yaml peerAddress). */
function peerAddressOf(config: Readonly<HubConfig>): string {
  if (config.peerAddress !== undefined) return config.peerAddress;
  const listen = parseHostPort(config.listen, 'listen');
  if (listen.host === '0.0.0.0' || listen.host === '::')
    return formatHostPort({ host: hostname(), port: listen.port });
  return config.listen;
}

/** The station port's TLS credentials from the hub's trust material. */
function stationCredentials(material: HubTrustMaterial): StationListenerCredentials {
  return {
    keyPem: material.serverKeyPem,
    certChainPem: material.serverChainPem,
    caPem: material.trustedCaPems.join(''),
  };
}
