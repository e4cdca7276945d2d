// agent.yaml: where the hub is, where the admin API listens, tunnel timings. Strict: unknown keys
// are errors. Written by `lifeline agent enroll`; edited by people.

import { join } from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../common/config-file.js';
import { parseDurationMs } from '../common/duration.js';
import { parseHostPort } from '../common/host-port.js';

const hostPort = z.string().refine((v) => {
  try {
    parseHostPort(v, 'address');
    return true;
  } catch {
    return false;
  }
}, 'expected HOST:PORT such as 127.0.0.1:8443');

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => {
      try {
        parseDurationMs(v);
        return true;
      } catch {
        return false;
      }
    }, 'expected a duration such as 10s, 15m or 8h')
    .transform((v) => parseDurationMs(v));

export const agentConfigSchema = z
  .object({
    hub: z
      .object({
        /** The hub's station port(s), HOST:PORT; the first one is used. */
        endpoints: z.array(hostPort).min(1),
        /** Name to check in the hub's certificate; defaults to the endpoint's host. */
        serverName: z.string().optional(),
      })
      .strict(),
    admin: z
      .object({
        listen: hostPort.default('127.0.0.1:8080'),
      })
      .strict()
      .default({ listen: '127.0.0.1:8080' }),
    tunnel: z
      .object({
        pingInterval: duration('10s'),
        pingTimeout: duration('10s'),
        reconnectMin: duration('1s'),
        reconnectMax: duration('60s'),
        connectTimeout: duration('10s'),
      })
      .strict()
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
      })
      .strict()
      .default({ maxConcurrent: 256, targetConnectTimeout: 5000 }),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
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
    adminToken: join(dataDir, 'admin-token'),
    database: join(dataDir, 'agent.db'),
    runtime: join(dataDir, 'agent.run.json'),
  };
}

export type AgentPaths = ReturnType<typeof agentPaths>;

export function loadAgentConfig(dataDir: string): Readonly<AgentConfig> {
  return loadConfigFile(agentConfigSchema, agentPaths(dataDir).config);
}
