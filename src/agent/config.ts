// agent.yaml: where the hub is, where the admin API listens, tunnel timings. Strict: unknown keys
// are errors. Written by `lifeline agent enroll`; edited by people.

import { join } from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../common/config/index.js';
import { redactConfigSchema } from './redaction/redact-config.js';
import { proxyConfigSchema } from './link/proxy-config.js';
import { managedSystemInventorySchema } from '../protocol/index.js';
import { applianceModelSchema } from '../protocol/index.js';
import {
  connectionLimitsSchema,
  durationSchema as duration,
  hostPortSchema as hostPort,
  logSchema,
  wholeNumberSchema as wholeNumber,
} from '../common/config/index.js';

export const agentConfigSchema = z
  .object({
    hub: z
      .object({
        /** The hub's station port(s), HOST:PORT, in order of preference. */
        endpoints: z.array(hostPort).min(1),
        /** Name to check in the hub's certificate; defaults to the endpoint's host. */
        serverName: z.string().optional(),
        /** While a less preferred endpoint is in use, the preferred ones are probed this often. */
        failbackInterval: duration('30s', { minMs: 1000 }),
        /** An endpoint not connected within this long has the next one dialled beside it. */
        failoverAfter: duration('2s', { minMs: 100 }),
      })
      .strict(),
    /** The customer's HTTP CONNECT proxy; without it, HTTPS_PROXY / NO_PROXY apply. */
    proxy: proxyConfigSchema.optional(),
    admin: z
      .object({
        listen: hostPort.default('127.0.0.1:8080'),
        /** Deadlines and caps of the admin API's connections (common/connection-guard.ts). */
        connections: connectionLimitsSchema({
          maxUnauthenticatedPerAddress: 64,
          maxUnauthenticated: 256,
        }),
        /** More names the admin API answers to in a Host header (see admin-host.ts). */
        allowedHosts: z
          .array(
            z
              .string()
              .regex(
                /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/,
                'a host name such as appliance.example.com',
              ),
          )
          .max(32)
          .default([]),
      })
      .strict()
      .prefault({}),
    tunnel: z
      .object({
        // The hub drops a tunnel silent for 30 s: ping well within that.
        pingInterval: duration('10s', { minMs: 1000, maxMs: 15_000 }),
        pingTimeout: duration('10s'),
        reconnectMin: duration('1s', { minMs: 100 }),
        reconnectMax: duration('60s', { minMs: 100 }),
        connectTimeout: duration('10s'),
      })
      .strict()
      .refine((t) => t.reconnectMin <= t.reconnectMax, {
        message: 'expected reconnectMin to be at most reconnectMax',
        path: ['reconnectMin'],
      })
      .default({
        pingInterval: 10_000,
        pingTimeout: 10_000,
        reconnectMin: 1000,
        reconnectMax: 60_000,
        connectTimeout: 10_000,
      }),
    sessions: z
      .object({
        /** Most sessions at once; more are refused. */
        maxConcurrent: z.number().int().min(1).max(10_000).default(256),
        targetConnectTimeout: duration('5s'),
        /** A session ends when it has lasted this long. */
        maxDuration: duration('24h', { minMs: 1000 }),
        /** A session ends after this long without a byte either way. */
        idleTimeout: duration('30m', { minMs: 1000 }),
        /** Session attempts (probes too) of one technician within attemptInterval; more are refused. */
        maxAttemptsPerTechnician: wholeNumber('session attempts per technician', 1, 1_000_000).default(600),
        /** Refusals of one technician audited one by one within attemptInterval; the rest are summarised. */
        refusalsAuditedPerTechnician: wholeNumber('refusals audited per technician', 1, 100_000).default(20),
        attemptInterval: duration('1m', { minMs: 1000, maxMs: 3_600_000 }),
      })
      .strict()
      .default({
        maxConcurrent: 256,
        targetConnectTimeout: 5000,
        maxDuration: 86_400_000,
        idleTimeout: 1_800_000,
        maxAttemptsPerTechnician: 600,
        refusalsAuditedPerTechnician: 20,
        attemptInterval: 60_000,
      }),
    requests: z
      .object({
        /** A pending access request expires after this long. */
        pendingTtl: duration('1h', { minMs: 1000 }),
        /** After a rejection, the same technician and service stay refused this long. */
        rejectionHold: duration('1h', { minMs: 1000 }),
        /** Pending access requests kept at once; an attempt that would make another is refused. */
        maxPending: wholeNumber('pending access requests', 1, 100_000).default(1000),
      })
      .strict()
      .default({ pendingTtl: 3_600_000, rejectionHold: 3_600_000, maxPending: 1000 }),
    notifications: z
      .object({
        webhook: z
          .object({
            url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
            /** File holding the HMAC secret (kept out of agent.yaml). */
            secretFile: z.string().min(1),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
    audit: z
      .object({
        /** Send the hub a signed checkpoint of the log's head after this many entries... */
        checkpointEntries: z.number().int().min(1).max(100).default(100),
        /** ...or at least this often while the log grows. */
        checkpointInterval: duration('60s', { minMs: 1000, maxMs: 60_000 }),
        syslog: z
          .object({
            transport: z.enum(['udp', 'tcp']).default('udp'),
            address: hostPort,
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ checkpointEntries: 100, checkpointInterval: 60_000 }),
    callhome: z
      .object({
        /** Reports waiting to be sent beyond which new ones are refused (none is ever dropped). */
        maxPending: z.number().int().min(10).max(1_000_000).default(10_000),
        /** A heartbeat (with the status of each system) at start and then this often. */
        heartbeatInterval: duration('24h', { minMs: 60_000 }),
        /** The inventory at start, on change (checked hourly) and then this often. */
        inventoryInterval: duration('24h', { minMs: 60_000 }),
        /** The host's performance is sampled this often... */
        performanceInterval: duration('5m', { minMs: 10_000, maxMs: 86_400_000 }),
        /** ...and this many samples make one report. */
        performanceSamplesPerReport: z.number().int().min(1).max(120).default(12),
        /** The managed systems this appliance knows; the heartbeat reports their status. */
        systems: z.array(managedSystemInventorySchema).max(500).default([]),
        /** Storm control: the same problem reported again within this time of its last report updates it. */
        stormWindow: duration('1h', { minMs: 1000, maxMs: 30 * 86_400_000 }),
        /** Hold for review: every report is kept until the admin releases it. */
        review: z.boolean().default(false),
        /** Pseudonyms for host names, addresses and user names in payloads; off when absent. */
        redact: redactConfigSchema.optional(),
        /** Sent and rejected reports, and their transmissions, are deleted this long after they settled. */
        keepSent: duration('90d', { minMs: 3_600_000 }),
        /** How often the agent asks the hub for requests for more error data (also right after start). */
        pollInterval: duration('5m', { minMs: 1000, maxMs: 86_400_000 }),
      })
      .strict()
      // prefault: the defaults above are applied (and checked) when the section is absent.
      .prefault({}),
    store: z
      .object({
        /** Largest size of agent.db; past it writes fail (and sessions fail closed) rather than fill the disk. */
        maxSizeMb: z.number().int().min(1).max(1_000_000).default(1024),
        /**
         * Free space kept on the data directory's filesystem: below it new reports and attachments
         * are refused (STORE_FULL) while the audit log and deliveries go on using the rest.
         */
        minFreeMb: z.number().int().min(1).max(1_000_000).default(8),
      })
      .strict()
      .default({ maxSizeMb: 1024, minFreeMb: 8 }),
    /** This appliance: its model decides which published fixes apply to it. */
    appliance: z
      .object({
        model: applianceModelSchema,
        serial: z.string().min(1).max(64).optional(),
      })
      .strict()
      .optional(),
    log: logSchema,
  })
  .strict();

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export function agentPaths(dataDir: string) {
  return {
    config: join(dataDir, 'agent.yaml'),
    stationKey: join(dataDir, 'station-key.pem'),
    stationCert: join(dataDir, 'station.pem'),
    hubCa: join(dataDir, 'hub-ca.pem'),
    hubTicketKey: join(dataDir, 'hub-ticket-key.pem'),
    /** The hub's fix-signing public key, pinned at enrollment. */
    hubFixKey: join(dataDir, 'hub-fix-key.pem'),
    adminToken: join(dataDir, 'admin-token'),
    database: join(dataDir, 'agent.db'),
    runtime: join(dataDir, 'agent.run.json'),
  };
}

export type AgentPaths = ReturnType<typeof agentPaths>;

export function loadAgentConfig(dataDir: string): Readonly<AgentConfig> {
  return loadConfigFile(agentConfigSchema, agentPaths(dataDir).config);
}
