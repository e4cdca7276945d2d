// Extended error data at the hub: uploads received over call home or the upload channel, written
// off the event loop, and the files kept for them.
export {
  attachmentFilePath,
  attachmentsDirOf,
  deleteAttachment,
  discardUnfinishedUploadsIdleSince,
  purgeAttachmentsReceivedBefore,
  readableAttachment,
  type RemovedFile,
} from './attachment-files.js';
export { AttachmentReceiver, type ChunkTransport, type UploadShares } from './attachment-receiver.js';
export { registerAttachmentRoutes } from './attachment-routes.js';
export { serveUploadChannel } from './upload-channel.js';
