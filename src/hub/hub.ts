// The running hub: station port (tunnels and call home), technician API, session broker.

import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { systemClock, type Clock } from '../common/clock.js';
import { parseHostPort } from '../common/host-port.js';
import type { Logger } from '../common/logger.js';
import { TicketSigner } from '../pki/index.js';
import { openSqliteHubStore, type HubStore } from '../store/index.js';
import { buildCallHomeApi } from './callhome-api.js';
import { hubPaths, loadHubConfig, type HubConfig } from './config.js';
import { HubAudit } from './hub-audit.js';
import { SessionBroker } from './session-broker.js';
import { StationListener } from './station-listener.js';
import { TechnicianAuth } from './technician-auth.js';
import { buildTechnicianApi } from './technician-api.js';
import { TunnelRegistry } from './tunnel-registry.js';
import { SilenceMonitor } from './station-silence.js';
import { RetentionScheduler, problemDataPurger } from './retention.js';
import { attachmentsDirOf } from './attachment-files.js';
import { ensureFixKey } from './fix-key.js';

export class Hub {
  readonly config: Readonly<HubConfig>;
  readonly store: HubStore;
  readonly registry: TunnelRegistry;
  stationPort = 0;
  apiPort = 0;
  readonly #listener: StationListener;
  readonly #technicianApi: ReturnType<typeof buildTechnicianApi>;
  readonly #callHome: Awaited<ReturnType<typeof buildCallHomeApi>>;
  readonly #broker: SessionBroker;
  readonly #logger: Logger;
  #retention: RetentionScheduler | undefined;
  #silence: SilenceMonitor | undefined;
  #closing: Promise<void> | undefined;

  private constructor(parts: {
    config: Readonly<HubConfig>;
    store: HubStore;
    registry: TunnelRegistry;
    listener: StationListener;
    technicianApi: ReturnType<typeof buildTechnicianApi>;
    callHome: Awaited<ReturnType<typeof buildCallHomeApi>>;
    broker: SessionBroker;
    logger: Logger;
  }) {
    this.config = parts.config;
    this.store = parts.store;
    this.registry = parts.registry;
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
    const read = (path: string) => readFileSync(path, 'utf8');
    const ca = { certPem: read(paths.caCert), keyPem: read(paths.caKey) };
    const certChainPem = read(paths.serverCert) + ca.certPem;
    const keyPem = read(paths.serverKey);
    const store = await openSqliteHubStore(paths.database);
    await store.clearConnections(clock.now());
    const audit = new HubAudit(store, clock, logger);

    const registry = new TunnelRegistry({
      clock,
      logger,
      // Agents ping every 10 s (at most every 15 s): three missed pings and the tunnel is dead.
      idleTimeoutMs: 30_000,
      events: {
        connected: (stationId, remote) => {
          void store.markStationConnected(stationId, clock.now()).catch(() => undefined);
          void audit
            .record(`station:${stationId}`, 'tunnel.connected', stationId, { remote })
            .catch(() => undefined);
        },
        disconnected: (stationId, reason) => {
          void store.markStationDisconnected(stationId, clock.now()).catch(() => undefined);
          void audit
            .record(`station:${stationId}`, 'tunnel.disconnected', stationId, { reason })
            .catch(() => undefined);
        },
      },
    });
    const auth = new TechnicianAuth({
      store,
      audit,
      clock,
      tokenTtlMs: config.technicianTokenTtl,
      authorizedGroup: config.authorizedGroup,
    });
    const broker = new SessionBroker({
      auth,
      registry,
      signer: new TicketSigner(read(paths.ticketKey)),
      store,
      audit,
      clock,
      logger,
      ticketTtlMs: config.ticketTtl,
      openTimeoutMs: config.sessionOpenTimeout,
    });
    const callHome = await buildCallHomeApi({
      ca,
      ticketPublicKeyPem: read(paths.ticketPublicKey),
      // A hub initialised before fixes existed gets its fix key now.
      fixPublicKeyPem: ensureFixKey(paths).publicKeyPem,
      dataDir: options.dataDir,
      stationCertValidityMs: config.stationCertValidity,
      store,
      audit,
      clock,
      logger,
    });
    const listener = new StationListener({
      keyPem,
      certChainPem,
      caPem: ca.certPem,
      store,
      registry,
      audit,
      logger,
      callHome: (socket: TLSSocket) => callHome.accept(socket),
    });
    const technicianApi = buildTechnicianApi({ keyPem, certChainPem, auth, broker, registry, store, logger });
    const hub = new Hub({ config, store, registry, listener, technicianApi, callHome, broker, logger });
    const stationAddress = parseHostPort(config.listen, 'listen');
    const apiAddress = parseHostPort(config.apiListen, 'apiListen');
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
    hub.#silence = new SilenceMonitor({ store, audit, clock, logger });
    hub.#silence.start();
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
      await this.#technicianApi.close();
      await this.#callHome.close();
      await this.#retention?.close();
      await this.#silence?.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      this.registry.destroyAll();
      this.#listener.destroyAll();
      await stopAccepting;
      await this.store.clearConnections(Date.now());
      await this.store.close();
      this.#logger.info('hub stopped');
    })();
    return this.#closing;
  }
}
