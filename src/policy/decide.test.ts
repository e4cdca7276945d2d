// The access decision against an oracle: every combination of remote service, access level, ACL
// rules, one-time grant and ticket, compared with the precedence list of docs/policy.md written as
// rows checked in order. Then properties over random rules, and running sessions (mayContinue).
// Over 400 lines because the situation tables, the oracle and the cases that use them belong together.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ErrorCode } from '../common/errors.js';
import { grantMatches, ruleMatches, type AclRule, type OneTimeGrant } from './acl.js';
import {
  accessLevels,
  decide,
  mayContinue,
  type AccessLevel,
  type AllowVia,
  type Decision,
  type PolicyState,
  type TicketCheck,
} from './decide.js';

const nowMs = 1_700_000_000_000;
const hourMs = 3_600_000;
const attempt = { technicianId: 'alice', groups: ['support', 'night-shift'], service: 'ssh', nowMs };

/** An allow or deny rule for alice and ssh with no window, unless `fields` says otherwise. */
function rule(
  id: string,
  effect: AclRule['effect'],
  fields: Partial<Omit<AclRule, 'id' | 'effect'>> = {},
): AclRule {
  return {
    id,
    effect,
    technician: 'alice',
    group: null,
    services: ['ssh'],
    notBeforeMs: null,
    notAfterMs: null,
    ...fields,
  };
}

function grant(fields: Partial<Omit<OneTimeGrant, 'id'>> = {}): OneTimeGrant {
  return {
    id: 'G-1',
    technician: 'alice',
    services: ['ssh'],
    notAfterMs: nowMs + hourMs,
    usedAtMs: null,
    ...fields,
  };
}

/** A decision with its reason taken out; the reason itself must be a non-empty string. */
type WithoutReason<D> = D extends { reason: string } ? Omit<D, 'reason'> : D;
type Expected = WithoutReason<Decision>;

function withoutReason(decision: Decision): Expected {
  if (decision.kind !== 'deny') return decision;
  const { reason, ...rest } = decision;
  assert.equal(typeof reason, 'string');
  assert.ok(reason.length > 0, 'a refusal gives a reason');
  return rest;
}

// Each situation states what it means for alice asking for ssh now: which rule (if any) should
// allow her, which should deny her, whether the grant should admit her. The oracle reads only that.

interface RuleSituation {
  name: string;
  rules: AclRule[];
  allowedBy: string | null;
  deniedBy: string | null;
}

const ruleSituations: RuleSituation[] = [
  { name: 'no rule', rules: [], allowedBy: null, deniedBy: null },
  {
    name: 'matching allow rule',
    rules: [rule('R-ALLOW', 'allow', { notBeforeMs: nowMs - hourMs, notAfterMs: nowMs + hourMs })],
    allowedBy: 'R-ALLOW',
    deniedBy: null,
  },
  {
    name: 'allow rule expired',
    rules: [rule('R-ALLOW', 'allow', { notBeforeMs: nowMs - hourMs, notAfterMs: nowMs })],
    allowedBy: null,
    deniedBy: null,
  },
  {
    name: 'allow rule not yet valid',
    rules: [rule('R-ALLOW', 'allow', { notBeforeMs: nowMs + 1, notAfterMs: nowMs + hourMs })],
    allowedBy: null,
    deniedBy: null,
  },
  {
    name: 'allow rule for another technician',
    rules: [rule('R-ALLOW', 'allow', { technician: 'bob' })],
    allowedBy: null,
    deniedBy: null,
  },
  {
    name: 'allow rule for another service',
    rules: [rule('R-ALLOW', 'allow', { services: ['https', 'vnc'] })],
    allowedBy: null,
    deniedBy: null,
  },
  {
    name: 'allow rule by a group that matches',
    rules: [rule('R-GROUP', 'allow', { technician: null, group: 'night-shift', services: null })],
    allowedBy: 'R-GROUP',
    deniedBy: null,
  },
  {
    name: 'matching deny rule',
    rules: [rule('R-DENY', 'deny')],
    allowedBy: null,
    deniedBy: 'R-DENY',
  },
  {
    // The allow rule comes first in the list: order must not let it win.
    name: 'deny rule plus allow rule',
    rules: [rule('R-ALLOW', 'allow'), rule('R-DENY', 'deny', { technician: null, group: 'support' })],
    allowedBy: 'R-ALLOW',
    deniedBy: 'R-DENY',
  },
];

interface GrantSituation {
  name: string;
  grant: OneTimeGrant | null;
  admits: boolean;
}

const grantSituations: GrantSituation[] = [
  { name: 'none', grant: null, admits: false },
  { name: 'unused, matching', grant: grant(), admits: true },
  { name: 'unused, for another technician', grant: grant({ technician: 'bob' }), admits: false },
  { name: 'for another service', grant: grant({ services: ['https'] }), admits: false },
  { name: 'expired', grant: grant({ notAfterMs: nowMs }), admits: false },
  { name: 'already used', grant: grant({ usedAtMs: nowMs - 60_000 }), admits: false },
];

interface TicketSituation {
  name: string;
  check: TicketCheck;
  refusal: ErrorCode | null;
}

const ticketSituations: TicketSituation[] = [
  { name: 'valid', check: { ok: true }, refusal: null },
  {
    name: 'TICKET_REPLAYED',
    check: { ok: false, code: 'TICKET_REPLAYED', reason: 'the service ticket was used before' },
    refusal: 'TICKET_REPLAYED',
  },
  {
    name: 'TICKET_EXPIRED',
    check: { ok: false, code: 'TICKET_EXPIRED', reason: 'the service ticket has expired' },
    refusal: 'TICKET_EXPIRED',
  },
];

interface Combination {
  remoteEnabled: boolean;
  accessLevel: AccessLevel;
  rules: RuleSituation;
  grant: GrantSituation;
  ticket: TicketSituation;
}

/** The precedence of docs/policy.md: the first row that gives a decision is the decision. */
const precedence: ReadonlyArray<(c: Combination) => Expected | undefined> = [
  (c) => (c.ticket.refusal === null ? undefined : { kind: 'deny', code: c.ticket.refusal }),
  (c) => (c.remoteEnabled ? undefined : { kind: 'deny', code: 'POLICY_REMOTE_OFF' }),
  (c) => (c.accessLevel === 'none' ? { kind: 'deny', code: 'POLICY_ACCESS_NONE' } : undefined),
  (c) =>
    c.rules.deniedBy === null
      ? undefined
      : { kind: 'deny', code: 'POLICY_DENIED_BY_RULE', ruleId: c.rules.deniedBy },
  (c) => (c.accessLevel === 'full' ? { kind: 'allow', via: 'full-access' } : undefined),
  (c) =>
    c.rules.allowedBy === null ? undefined : { kind: 'allow', via: 'acl-rule', ruleId: c.rules.allowedBy },
  (c) => (c.grant.admits ? { kind: 'allow', via: 'one-time-grant', grantId: 'G-1' } : undefined),
  () => ({ kind: 'request' }),
];

function expectedDecision(c: Combination): Expected {
  for (const row of precedence) {
    const decision = row(c);
    if (decision) return decision;
  }
  throw new Error('the last row of the precedence always decides');
}

const combinations: Combination[] = [];
for (const remoteEnabled of [true, false]) {
  for (const accessLevel of accessLevels) {
    for (const rules of ruleSituations) {
      for (const grant of grantSituations) {
        for (const ticket of ticketSituations) {
          combinations.push({ remoteEnabled, accessLevel, rules, grant, ticket });
        }
      }
    }
  }
}

describe(`decide: every combination (${combinations.length})`, () => {
  test('the cross product is complete', () => {
    assert.equal(combinations.length, 2 * 3 * 9 * 6 * 3);
  });

  for (const c of combinations) {
    const name =
      `remote ${c.remoteEnabled ? 'on' : 'off'}, level ${c.accessLevel}, rule: ${c.rules.name}, ` +
      `grant: ${c.grant.name}, ticket: ${c.ticket.name}`;
    test(name, () => {
      const decision = decide({
        policy: { remoteEnabled: c.remoteEnabled, accessLevel: c.accessLevel },
        rules: c.rules.rules,
        grant: c.grant.grant,
        ticket: c.ticket.check,
        attempt,
      });
      assert.deepEqual(withoutReason(decision), expectedDecision(c));
    });
  }
});

describe('decide: properties over random rules, grants and times', () => {
  const technicianArb = fc.constantFrom('alice', 'bob', 'Alice');
  const groupArb = fc.constantFrom('support', 'ops');
  const serviceNames = ['ssh', 'https', 'vnc'];
  const timeArb = fc.integer({ min: 0, max: 50 });
  const ruleArb = fc.record({
    effect: fc.constantFrom<AclRule['effect']>('allow', 'deny'),
    technician: fc.option(technicianArb, { nil: null }),
    group: fc.option(groupArb, { nil: null }),
    services: fc.option(fc.subarray(serviceNames), { nil: null }),
    notBeforeMs: fc.option(timeArb, { nil: null }),
    notAfterMs: fc.option(timeArb, { nil: null }),
  });
  const rulesArb = fc
    .array(ruleArb, { maxLength: 6 })
    .map((rules): AclRule[] => rules.map((r, i) => ({ id: `R-${i}`, ...r })));
  const grantArb = fc.option(
    fc.record({
      id: fc.constant('G-1'),
      technician: fc.option(technicianArb, { nil: null }),
      services: fc.option(fc.subarray(serviceNames), { nil: null }),
      notAfterMs: timeArb,
      usedAtMs: fc.option(timeArb, { nil: null }),
    }),
    { nil: null },
  );
  const policyArb = fc.record({
    remoteEnabled: fc.boolean(),
    accessLevel: fc.constantFrom(...accessLevels),
  });
  const ticketArb = fc.oneof(
    { arbitrary: fc.constant<TicketCheck>({ ok: true }), weight: 4 },
    {
      arbitrary: fc
        .constantFrom<ErrorCode>('TICKET_INVALID', 'TICKET_EXPIRED', 'TICKET_REPLAYED')
        .map((code): TicketCheck => ({ ok: false, code, reason: `ticket refused: ${code}` })),
      weight: 1,
    },
  );
  const attemptArb = fc.record({
    technicianId: fc.constantFrom('alice', 'bob'),
    groups: fc.subarray(['support', 'ops']),
    service: fc.constantFrom(...serviceNames),
    nowMs: timeArb,
  });
  const inputArb = fc.record({
    policy: policyArb,
    rules: rulesArb,
    grant: grantArb,
    ticket: ticketArb,
    attempt: attemptArb,
  });
  const limits = { numRuns: 5000, interruptAfterTimeLimit: 5000 };

  test('a matching active deny rule always wins over allows', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const denying = input.rules.filter((r) => r.effect === 'deny' && ruleMatches(r, input.attempt));
        const decision = decide(input);
        if (denying.length === 0) return;
        assert.equal(decision.kind, 'deny');
        if (input.ticket.ok && input.policy.remoteEnabled && input.policy.accessLevel !== 'none') {
          assert.deepEqual(withoutReason(decision), {
            kind: 'deny',
            code: 'POLICY_DENIED_BY_RULE',
            ruleId: denying[0]?.id,
          });
        }
      }),
      limits,
    );
  });

  test('level none and remote service off always refuse', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const decision = decide(input);
        if (input.policy.remoteEnabled && input.policy.accessLevel !== 'none') return;
        assert.equal(decision.kind, 'deny');
        if (!input.ticket.ok) return;
        const code = input.policy.remoteEnabled ? 'POLICY_ACCESS_NONE' : 'POLICY_REMOTE_OFF';
        assert.deepEqual(withoutReason(decision), { kind: 'deny', code });
      }),
      limits,
    );
  });

  test('a decision is request only under level restricted, when no rule and no grant applies', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        if (decide(input).kind !== 'request') return;
        assert.equal(input.policy.accessLevel, 'restricted');
        assert.equal(input.policy.remoteEnabled, true);
        assert.equal(input.ticket.ok, true);
        assert.equal(
          input.rules.some((r) => ruleMatches(r, input.attempt)),
          false,
        );
        assert.equal(input.grant !== null && grantMatches(input.grant, input.attempt), false);
      }),
      limits,
    );
  });

  test('allow via one-time-grant only when no allow rule matches and the level is not full', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const decision = decide(input);
        if (decision.kind !== 'allow' || decision.via !== 'one-time-grant') return;
        assert.equal(input.policy.accessLevel, 'restricted');
        assert.equal(
          input.rules.some((r) => r.effect === 'allow' && ruleMatches(r, input.attempt)),
          false,
        );
        assert.ok(input.grant !== null && grantMatches(input.grant, input.attempt));
        assert.equal(decision.grantId, input.grant.id);
      }),
      limits,
    );
  });

  test('allow via acl-rule names an active allow rule that matches, under level restricted', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const decision = decide(input);
        if (decision.kind !== 'allow' || decision.via !== 'acl-rule') return;
        assert.equal(input.policy.accessLevel, 'restricted');
        const named = input.rules.find((r) => r.id === decision.ruleId);
        assert.ok(named && named.effect === 'allow' && ruleMatches(named, input.attempt));
      }),
      limits,
    );
  });
});

type Verdict = ReturnType<typeof mayContinue>;
type VerdictWithoutReason = { ok: true } | { ok: false; code: ErrorCode };

function verdictWithoutReason(verdict: Verdict): VerdictWithoutReason {
  if (verdict.ok) return verdict;
  const { reason, ...rest } = verdict;
  assert.equal(typeof reason, 'string');
  assert.ok(reason.length > 0, 'an ended session gives a reason');
  return rest;
}

const restricted: PolicyState = { remoteEnabled: true, accessLevel: 'restricted' };
const full: PolicyState = { remoteEnabled: true, accessLevel: 'full' };
const none: PolicyState = { remoteEnabled: true, accessLevel: 'none' };
const remoteOff: PolicyState = { remoteEnabled: false, accessLevel: 'restricted' };

function verdict(
  policy: PolicyState,
  rules: AclRule[],
  startedVia: AllowVia,
  atMs = nowMs,
): VerdictWithoutReason {
  return verdictWithoutReason(
    mayContinue({ policy, rules, attempt: { ...attempt, nowMs: atMs } }, startedVia),
  );
}

describe('mayContinue: a running session under the policy in force now', () => {
  const ended = (code: ErrorCode): VerdictWithoutReason => ({ ok: false, code });
  const ok: VerdictWithoutReason = { ok: true };

  test('via an acl rule: continues while the rule is active, ends when it expires', () => {
    const via: AllowVia = { via: 'acl-rule', ruleId: 'R-ALLOW' };
    const rules = [rule('R-ALLOW', 'allow', { notAfterMs: nowMs + 1000 })];
    assert.deepEqual(verdict(restricted, rules, via, nowMs + 999), ok);
    assert.deepEqual(verdict(restricted, rules, via, nowMs + 1000), ended('POLICY_RULE_ENDED'));
  });

  test('via an acl rule: ends when the rule is removed, continues if another rule still allows it', () => {
    const via: AllowVia = { via: 'acl-rule', ruleId: 'R-ALLOW' };
    assert.deepEqual(verdict(restricted, [], via), ended('POLICY_RULE_ENDED'));
    assert.deepEqual(
      verdict(restricted, [rule('R-OTHER', 'allow', { technician: 'bob' })], via),
      ended('POLICY_RULE_ENDED'),
    );
    const group = rule('R-GROUP', 'allow', { technician: null, group: 'support' });
    assert.deepEqual(verdict(restricted, [group], via), ok);
    const expiredOwn = rule('R-ALLOW', 'allow', { notAfterMs: nowMs });
    assert.deepEqual(verdict(restricted, [expiredOwn, group], via), ok);
  });

  test('via an acl rule: the reason names the rule', () => {
    const result = mayContinue(
      { policy: restricted, rules: [], attempt },
      { via: 'acl-rule', ruleId: 'R-ALLOW' },
    );
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /R-ALLOW/);
  });

  test('via an acl rule: continues when the level becomes full; ends on deny, none and remote off', () => {
    const via: AllowVia = { via: 'acl-rule', ruleId: 'R-ALLOW' };
    assert.deepEqual(verdict(full, [], via), ok);
    assert.deepEqual(
      verdict(restricted, [rule('R-ALLOW', 'allow'), rule('R-DENY', 'deny')], via),
      ended('POLICY_DENIED_BY_RULE'),
    );
    assert.deepEqual(verdict(none, [rule('R-ALLOW', 'allow')], via), ended('POLICY_ACCESS_NONE'));
    assert.deepEqual(verdict(remoteOff, [rule('R-ALLOW', 'allow')], via), ended('POLICY_REMOTE_OFF'));
  });

  test('via full access: ends when the level becomes restricted without a rule, continues with one', () => {
    const via: AllowVia = { via: 'full-access' };
    assert.deepEqual(verdict(full, [], via), ok);
    assert.deepEqual(verdict(restricted, [], via), ended('POLICY_RULE_ENDED'));
    assert.deepEqual(verdict(restricted, [rule('R-ALLOW', 'allow')], via), ok);
    assert.deepEqual(
      verdict(restricted, [rule('R-ALLOW', 'allow', { notAfterMs: nowMs })], via),
      ended('POLICY_RULE_ENDED'),
    );
  });

  test('via full access: ends on a deny rule, level none and remote off', () => {
    const via: AllowVia = { via: 'full-access' };
    assert.deepEqual(verdict(full, [rule('R-DENY', 'deny')], via), ended('POLICY_DENIED_BY_RULE'));
    assert.deepEqual(verdict(none, [], via), ended('POLICY_ACCESS_NONE'));
    assert.deepEqual(
      verdict({ remoteEnabled: false, accessLevel: 'full' }, [], via),
      ended('POLICY_REMOTE_OFF'),
    );
  });

  test('via a one-time grant: continues under restricted with no rule, and under full', () => {
    const via: AllowVia = { via: 'one-time-grant', grantId: 'G-1' };
    assert.deepEqual(verdict(restricted, [], via), ok);
    assert.deepEqual(verdict(restricted, [rule('R-BOB', 'allow', { technician: 'bob' })], via), ok);
    assert.deepEqual(verdict(full, [], via), ok);
  });

  test('via a one-time grant: ends on remote off, level none and a deny rule', () => {
    const via: AllowVia = { via: 'one-time-grant', grantId: 'G-1' };
    assert.deepEqual(verdict(remoteOff, [], via), ended('POLICY_REMOTE_OFF'));
    assert.deepEqual(verdict(none, [], via), ended('POLICY_ACCESS_NONE'));
    assert.deepEqual(verdict(restricted, [rule('R-DENY', 'deny')], via), ended('POLICY_DENIED_BY_RULE'));
  });

  test('a deny rule not yet active does not end a session; it does once it is', () => {
    const deny = rule('R-DENY', 'deny', { notBeforeMs: nowMs + 1000 });
    const via: AllowVia = { via: 'full-access' };
    assert.deepEqual(verdict(full, [deny], via, nowMs + 999), ok);
    assert.deepEqual(verdict(full, [deny], via, nowMs + 1000), ended('POLICY_DENIED_BY_RULE'));
  });
});
