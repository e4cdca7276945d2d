// Configuration files: YAML under a strict zod schema, shared schema pieces, durations.
export { formatZodIssues, loadConfigFile, parseConfig } from './config-file.js';
export {
  connectionLimitsOf,
  connectionLimitsSchema,
  durationSchema,
  hostPortSchema,
  logSchema,
  tlsConnectionLimitsSchema,
  wholeNumberSchema,
} from './config-schema.js';
export { formatDurationMs, parseDurationMs } from './duration.js';
