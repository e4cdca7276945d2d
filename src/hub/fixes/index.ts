// Fixes at the hub: the fix-signing key, publishing, and the catalog routes stations read.
export { ensureFixKey } from './fix-key.js';
export { publishFix } from './fix-publish.js';
export { registerFixRoutes } from './fix-routes.js';
