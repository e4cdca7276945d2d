// Where audit events go besides the log: the webhook, syslog export and the Diagnostics page's
// live feed.
export { Notifications } from './notifications.js';
export { wirePageFeed } from './page-feed.js';
export { startNotify, type Notify } from './start-notify.js';
export { SyslogSender, formatSyslog5424 } from './syslog-export.js';
export { verifyWebhookSignature } from './webhook.js';
