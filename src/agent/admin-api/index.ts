// The agent's admin API: the routes the administrator, the CLI and the Diagnostics page use, the
// Host check, the metrics it serves, and the control surface it asks of the running agent.
export { startAdminApi, type AdminApi } from './start-admin-api.js';
export type { AgentControl, AgentStatus } from './agent-control.js';
export { AgentMetrics } from './metrics.js';
