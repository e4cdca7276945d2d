// Technician identity: passwords, TOTP, login limits and the watch on disabled users.
export { LoginLimiter, loginLimitsOf } from './login-limiter.js';
export { hashPassword } from './passwords.js';
export { LoginRateLimited, TechnicianAuth } from './technician-auth.js';
export { newTotpSecret, secretFromTotpUri, totpCode, totpUri } from './totp.js';
export { UserWatch } from './user-watch.js';
