// The appliance agent: enrollment, tunnel, session gate and admin API.
export { Agent, type RuntimeInfo } from './agent.js';
export type { AgentStatus } from './admin-api/index.js';
export { settingKeys } from './store/index.js';
export { enroll } from './identity/index.js';
export { agentPaths, loadAgentConfig } from './config.js';
export type { ActiveSession } from './sessions/index.js';
export { chooseFix, downloadFix, fetchCatalog, openFixContext, type FixContext } from './fixes/index.js';
export { listFixDownloads, recordFixEvent, type FixDownload, type FixEvent } from './fixes/index.js';
export { agentConfigSchema } from './config.js';
