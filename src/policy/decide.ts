// The access decision, pure: (policy, technician's verified ticket) -> allow | request | deny.
// The agent calls it for every session start; it never trusts the hub's word on policy.
// Precedence: remote service off, then level none, then the level's own rule.

import type { ErrorCode } from '../common/errors.js';

export const accessLevels = ['full', 'restricted', 'none'] as const;
export type AccessLevel = (typeof accessLevels)[number];

export interface PolicyState {
  remoteEnabled: boolean;
  accessLevel: AccessLevel;
}

export interface SessionAttempt {
  technicianId: string;
  groups: readonly string[];
  service: string;
  nowMs: number;
}

export type Decision =
  | { kind: 'allow'; via: 'full-access' }
  | { kind: 'request' }
  | { kind: 'deny'; code: ErrorCode; reason: string };

export function decideAccess(policy: PolicyState, _attempt: SessionAttempt): Decision {
  if (!policy.remoteEnabled) {
    return {
      kind: 'deny',
      code: 'POLICY_REMOTE_OFF',
      reason: 'remote service is turned off on this appliance',
    };
  }
  switch (policy.accessLevel) {
    case 'none':
      return { kind: 'deny', code: 'POLICY_ACCESS_NONE', reason: 'access to this appliance is set to none' };
    case 'full':
      return { kind: 'allow', via: 'full-access' };
    case 'restricted':
      // ACL rules and access requests arrive with restricted access; until then nobody matches.
      return { kind: 'request' };
  }
}
