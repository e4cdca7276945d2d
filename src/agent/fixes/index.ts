// Fixes on the appliance: the signed catalog, downloads verified against the pinned fix key, and
// what the appliance keeps of them.
export {
  fixEventSchema,
  listFixDownloads,
  recordFixEvent,
  type FixDownload,
  type FixEvent,
} from './fix-records.js';
export { chooseFix, downloadFix, fetchCatalog, openFixContext, type FixContext } from './fixes.js';
