// The data directory on disk: private files and modes, free space and the full-disk condition.
export { describeLooseModes, findLooseModes } from './data-dir-modes.js';
export {
  createPrivateFile,
  ensurePrivateDirectory,
  formatMode,
  privateDirectoryMode,
  privateFileMode,
  replaceFile,
  syncDirectory,
  writePrivateFile,
} from './files.js';
export { StoreFullError, freeBytesOf, isStoreFailure, storeFullErrorOf } from './store-full.js';
export { StoreSpace, type StoreFullCondition, type StoreRoom } from './store-space.js';
