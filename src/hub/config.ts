// hub.yaml: listen addresses, public names, the authorized group and lifetimes. Strict: unknown
// keys are errors. Written by `lifeline hub init`; edited by people.

import { join } from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../common/config/index.js';
import {
  tlsConnectionLimitsSchema,
  durationSchema as duration,
  hostPortSchema as hostPort,
  logSchema,
} from '../common/config/index.js';
import { retentionConfigSchema } from './retention/retention-config.js';
import { loginConfigSchema } from './technicians/login-config.js';
import { admissionConfigSchema } from './stations/admission-config.js';
import { drainConfigSchema } from './stations/drain-config.js';
import { sharesConfigSchema } from './shares/shares-config.js';
import { storeConfigSchema } from './store/store-config.js';
import { blobsConfigSchema } from './attachments/blob-config.js';

/** hub.yaml `connections:`, for each of the two ports on its own. */
export const hubConnectionsSchema = tlsConnectionLimitsSchema({
  maxUnauthenticatedPerAddress: 128,
  maxUnauthenticated: 1024,
});

export const hubConfigSchema = z
  .object({
    /** Station port: mutual TLS 1.3, call home and tunnels. */
    listen: hostPort.default('127.0.0.1:8443'),
    /** Technician API (HTTPS). */
    apiListen: hostPort.default('127.0.0.1:8444'),
    /** The station address agents dial, as put in enrollment tokens. */
    stationAddress: hostPort,
    /**
     * Where the other hub nodes of a cluster reach this node's station port directly (not through
     * the load balancer). Default: `listen`, or this host's name with its port when `listen` is a
     * wildcard address.
     */
    peerAddress: hostPort.optional(),
    /** The technician API's URL, as printed for `lifeline login --hub`. */
    apiUrl: z.url({ protocol: /^https$/, error: 'expected an https:// URL' }),
    authorizedGroup: z.string().min(1).default('technicians'),
    enrollmentTokenTtl: duration('15m'),
    /** Station certificates are short-lived; agents renew them at half their life. */
    stationCertValidity: duration('24h', { minMs: 60_000 }),
    /** How long after its expiry a station certificate may still be renewed. */
    renewalGrace: duration('7d'),
    /** How long the old CA or ticket key stays trusted after `lifeline hub rotate`. */
    rotationOverlap: duration('7d', { minMs: 1000 }),
    ticketTtl: duration('30s', { minMs: 1000, maxMs: 60_000 }),
    technicianTokenTtl: duration('12h'),
    /** Failed logins allowed per user name and per address (see login-limiter.ts). */
    login: loginConfigSchema,
    /** Longest wait for an agent to answer a session request. */
    sessionOpenTimeout: duration('10s'),
    /** How long call-home data is kept (see retention-config.ts). */
    retention: retentionConfigSchema,
    /** How many new tunnels the hub admits per second (see admission-config.ts). */
    admission: admissionConfigSchema,
    /** How long a stopping hub node lets running sessions finish (see drain-config.ts). */
    drain: drainConfigSchema,
    /** Deadlines and caps of connections on both ports (common/connection-guard.ts). */
    connections: hubConnectionsSchema,
    /** What one user or one station may hold of the hub's resources (see shares.ts). */
    shares: sharesConfigSchema,
    /** Where the bytes of attachments live, maybe shared by several hub nodes (see blob-config.ts). */
    blobs: blobsConfigSchema,
    /** Where the hub keeps its state: SQLite or PostgreSQL (see store-config.ts). */
    store: storeConfigSchema,
    log: logSchema,
  })
  .strict();

export type HubConfig = z.infer<typeof hubConfigSchema>;

export function hubPaths(dataDir: string) {
  return {
    config: join(dataDir, 'hub.yaml'),
    caCert: join(dataDir, 'ca.pem'),
    caKey: join(dataDir, 'ca-key.pem'),
    serverCert: join(dataDir, 'server.pem'),
    serverKey: join(dataDir, 'server-key.pem'),
    ticketKey: join(dataDir, 'ticket-key.pem'),
    ticketPublicKey: join(dataDir, 'ticket-pub.pem'),
    fixKey: join(dataDir, 'fix-key.pem'),
    fixPublicKey: join(dataDir, 'fix-pub.pem'),
    fixesDir: join(dataDir, 'fixes'),
    database: join(dataDir, 'hub.db'),
    /** Bearer token for GET /metrics on the technician API (made at init or first start). */
    metricsToken: join(dataDir, 'metrics-token'),
  };
}

export type HubPaths = ReturnType<typeof hubPaths>;

export function loadHubConfig(dataDir: string): Readonly<HubConfig> {
  return loadConfigFile(hubConfigSchema, hubPaths(dataDir).config);
}
