// Turns `callhome.redact` in agent.yaml into the outbox's payload rewrite: the names of this
// machine and its accounts, plus the configured ones, under a per-station secret that is made once
// and kept in agent.db (so a pseudonym stays the same across restarts, and differs between stations).

import { randomBytes } from 'node:crypto';
import type { ReportKind } from '../../protocol/index.js';
import type { AgentStore } from '../store/index.js';
import type { RedactConfig } from './redact-config.js';
import { localUserNames, ownHostNames } from './redact-sources.js';
import { Redactor } from './redact.js';

export const redactSecretSetting = 'callhome_redact_secret';

export type PayloadRewrite = (kind: ReportKind, payload: Record<string, unknown>) => Record<string, unknown>;

/** The rewrite to apply before a report is stored, or undefined when redaction is off. */
export async function payloadRedaction(
  store: Pick<AgentStore, 'getSetting' | 'setSetting'>,
  redact: RedactConfig | undefined,
): Promise<PayloadRewrite | undefined> {
  if (!redact) return undefined;
  let secret = await store.getSetting(redactSecretSetting);
  if (typeof secret !== 'string' || secret.length < 32) {
    secret = randomBytes(32).toString('hex');
    await store.setSetting(redactSecretSetting, secret);
  }
  const redactor = new Redactor(Buffer.from(secret as string, 'hex'), {
    hostnames: redact.hostnames,
    addresses: redact.addresses,
    usernames: redact.usernames,
    hostNames: [...(redact.hostnames ? ownHostNames() : []), ...redact.extraHostnames],
    userNames: [...(redact.usernames ? localUserNames() : []), ...redact.extraUsernames],
  });
  return (_kind, payload) => redactor.redactValue(payload);
}
