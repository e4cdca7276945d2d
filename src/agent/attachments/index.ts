// Extended error data on the appliance: files staged for a problem, their record in agent.db and
// their resumable upload to the hub over the upload channel.
export { stagedFilePath } from './attachment-staging.js';
export { AttachmentStore, type AttachmentRecord } from './attachment-store.js';
export { startUploads, type Uploads } from './start-uploads.js';
export { UploadChannel, UploadChannelUnavailable } from './upload-channel.js';
export type { UploadStep } from './upload-exchange.js';
export { Uploader } from './uploader.js';
