// The access decision, pure: (policy, ACL rules, one-time grant, ticket check) -> allow | request |
// deny. The agent calls it at every session start and again while sessions run; it never trusts
// the hub's word on policy.
//
// Precedence, first match wins (docs/policy.md):
//   1. the ticket did not verify           -> deny (its TICKET_* code)
//   2. remote service off                  -> deny POLICY_REMOTE_OFF
//   3. access level none                   -> deny POLICY_ACCESS_NONE
//   4. an active deny rule matches         -> deny POLICY_DENIED_BY_RULE
//   5. access level full                   -> allow
//   6. an active allow rule matches        -> allow via the rule (restricted)
//   7. an unused one-time grant matches    -> allow via the grant (the session uses it up)
//   8. restricted, nothing matches         -> request (pending approval)
// A grant is used only by a session that nothing else would admit, so it is not wasted on a
// technician who already has a rule.

import type { ErrorCode } from '../common/errors.js';
import { grantMatches, ruleMatches, type AclRule, type OneTimeGrant, type Subject } from './acl.js';

export const accessLevels = ['full', 'restricted', 'none'] as const;
export type AccessLevel = (typeof accessLevels)[number];

export interface PolicyState {
  remoteEnabled: boolean;
  accessLevel: AccessLevel;
}

export type SessionAttempt = Subject;

export type TicketCheck = { ok: true } | { ok: false; code: ErrorCode; reason: string };

export interface PolicyInput {
  policy: PolicyState;
  rules: readonly AclRule[];
  grant: OneTimeGrant | null;
  ticket: TicketCheck;
  attempt: SessionAttempt;
}

export type AllowVia =
  { via: 'full-access' } | { via: 'acl-rule'; ruleId: string } | { via: 'one-time-grant'; grantId: string };

export type Decision =
  | ({ kind: 'allow' } & AllowVia)
  | { kind: 'request' }
  | { kind: 'deny'; code: ErrorCode; reason: string; ruleId?: string };

export function decide(input: PolicyInput): Decision {
  const { policy, rules, grant, ticket, attempt } = input;
  if (!ticket.ok) return { kind: 'deny', code: ticket.code, reason: ticket.reason };
  if (!policy.remoteEnabled) {
    return {
      kind: 'deny',
      code: 'POLICY_REMOTE_OFF',
      reason: 'remote service is turned off on this appliance',
    };
  }
  if (policy.accessLevel === 'none') {
    return { kind: 'deny', code: 'POLICY_ACCESS_NONE', reason: 'access to this appliance is set to none' };
  }
  const denyRule = rules.find((rule) => rule.effect === 'deny' && ruleMatches(rule, attempt));
  if (denyRule) {
    return {
      kind: 'deny',
      code: 'POLICY_DENIED_BY_RULE',
      reason: `access rule ${denyRule.id} of this appliance denies ${attempt.technicianId} service ${attempt.service}`,
      ruleId: denyRule.id,
    };
  }
  if (policy.accessLevel === 'full') return { kind: 'allow', via: 'full-access' };
  const allowRule = rules.find((rule) => rule.effect === 'allow' && ruleMatches(rule, attempt));
  if (allowRule) return { kind: 'allow', via: 'acl-rule', ruleId: allowRule.id };
  if (grant && grantMatches(grant, attempt))
    return { kind: 'allow', via: 'one-time-grant', grantId: grant.id };
  return { kind: 'request' };
}

/**
 * Whether a running session may go on under the policy in force now. A session allowed by a
 * one-time grant keeps that grant's permission for its life; any other session must still be
 * allowed as if it started now, by the same route or another.
 */
export function mayContinue(
  input: Omit<PolicyInput, 'ticket' | 'grant'>,
  startedVia: AllowVia,
): { ok: true } | { ok: false; code: ErrorCode; reason: string } {
  const now = decide({ ...input, grant: null, ticket: { ok: true } });
  if (now.kind === 'deny') return { ok: false, code: now.code, reason: now.reason };
  if (now.kind === 'allow' || startedVia.via === 'one-time-grant') return { ok: true };
  return {
    ok: false,
    code: 'POLICY_RULE_ENDED',
    reason:
      startedVia.via === 'acl-rule'
        ? `access rule ${startedVia.ruleId} no longer allows this session`
        : 'access is now restricted and no rule allows this session',
  };
}
