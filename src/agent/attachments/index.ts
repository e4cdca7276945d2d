// Extended error data on the appliance: files staged for a problem and their resumable upload to
// the hub over the upload channel.
export { stagedFilePath } from './attachment-staging.js';
export { UploadChannel, UploadChannelUnavailable } from './upload-channel.js';
export { Uploader } from './uploader.js';
