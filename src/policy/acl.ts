// ACL rules and one-time grants as the policy sees them: plain values, no storage.

/** A rule allows (or denies) a technician, or a group, some or all services, within a window. */
export interface AclRule {
  id: string;
  effect: 'allow' | 'deny';
  /** Hub identity of the technician, exact; null when the rule matches by group. */
  technician: string | null;
  /** Hub group; null when the rule matches by technician. */
  group: string | null;
  /** Services the rule covers; null for every service. */
  services: readonly string[] | null;
  notBeforeMs: number | null;
  notAfterMs: number | null;
}

/**
 * One session within a window, for a technician nothing else admits (under full access everyone
 * is admitted anyway, so in practice under restricted); the first such session uses it.
 */
export interface OneTimeGrant {
  id: string;
  technician: string | null;
  services: readonly string[] | null;
  notAfterMs: number;
  usedAtMs: number | null;
}

export interface Subject {
  technicianId: string;
  groups: readonly string[];
  service: string;
  nowMs: number;
}

export function ruleIsActive(rule: AclRule, nowMs: number): boolean {
  return (
    (rule.notBeforeMs === null || nowMs >= rule.notBeforeMs) &&
    (rule.notAfterMs === null || nowMs < rule.notAfterMs)
  );
}

export function ruleMatches(rule: AclRule, subject: Subject): boolean {
  const who =
    (rule.technician !== null && rule.technician === subject.technicianId) ||
    (rule.group !== null && subject.groups.includes(rule.group));
  const what = rule.services === null || rule.services.includes(subject.service);
  return who && what && ruleIsActive(rule, subject.nowMs);
}

export function grantMatches(grant: OneTimeGrant, subject: Subject): boolean {
  return (
    grant.usedAtMs === null &&
    subject.nowMs < grant.notAfterMs &&
    (grant.technician === null || grant.technician === subject.technicianId) &&
    (grant.services === null || grant.services.includes(subject.service))
  );
}
