// Extended error data at the hub: uploads received over call home or the upload channel, written
// off the event loop, and the files kept for them in a blob store (a directory by default).
export {
  blobKeyOf,
  deleteAttachment,
  discardUnfinishedUploadsIdleSince,
  purgeAttachmentsReceivedBefore,
  readableAttachment,
  type RemovedFile,
} from './attachment-files.js';
export { AttachmentReceiver, type ChunkTransport, type UploadShares } from './attachment-receiver.js';
export { registerAttachmentRoutes } from './attachment-routes.js';
export { ChunkBody } from './chunk-body.js';
export { blobsDirOf, type BlobsConfig } from './blob-config.js';
export type { BlobKey, BlobPart, BlobRange, BlobShape, BlobStore, BlobUpload } from './blob-store.js';
export { DirectoryBlobStore, openBlobStore } from './directory-blob-store.js';
export { serveUploadChannel } from './upload-channel.js';
