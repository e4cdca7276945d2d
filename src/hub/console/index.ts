// The technician API and the console behind it: login, stations, problems, sessions, metrics and
// health, and each user's fair share of what the hub keeps.
export { HubMetrics, ensureScrapeToken } from './metrics.js';
export { LimitReached, ShareRefusals, seconds, shareKeys } from './shares.js';
export { buildTechnicianApi, loginRequestSchema } from './technician-api.js';
