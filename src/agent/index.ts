// The appliance agent: enrollment, tunnel, session gate and admin API.
export { Agent, type RuntimeInfo } from './agent.js';
export type { AgentStatus } from './admin-api/agent-control.js';
export { settingKeys } from './store/agent-store.js';
export { enroll } from './identity/enroll.js';
export { agentPaths, loadAgentConfig } from './config.js';
export type { ActiveSession } from './sessions/session-gate.js';
export { chooseFix, downloadFix, fetchCatalog, openFixContext, type FixContext } from './fixes/fixes.js';
export { listFixDownloads, recordFixEvent, type FixDownload, type FixEvent } from './fixes/fix-records.js';
