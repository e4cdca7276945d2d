// The technician API and the console behind it: login, stations, problems, sessions, metrics and
// health.
export { HubMetrics, ensureScrapeToken } from './metrics.js';
export {
  buildTechnicianApi,
  loginRequestSchema,
  startTechnicianApi,
  type RunningTechnicianApi,
  type TechnicianApiStartOptions,
} from './technician-api.js';
