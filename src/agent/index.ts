// The appliance agent: enrollment, tunnel, session gate and admin API.
export { Agent, type RuntimeInfo } from './agent.js';
export type { AgentStatus } from './agent-control.js';
export { settingKeys } from '../store/index.js';
export { enroll } from './enroll.js';
export { agentPaths, loadAgentConfig } from './config.js';
export type { ActiveSession } from './session-gate.js';
export { chooseFix, downloadFix, fetchCatalog, openFixContext, type FixContext } from './fixes.js';
export { listFixDownloads, recordFixEvent, type FixDownload, type FixEvent } from './fix-records.js';
