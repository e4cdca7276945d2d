// What the appliance administrator does with the access policy: ACL rules, access requests,
// one-time grants and the MFA requirement. Every change is audited first; running sessions are
// re-checked after it.

import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { ruleIsActive } from '../../policy/index.js';
import { isServiceName } from '../../protocol/index.js';
import {
  newPolicyId,
  type AccessRequest,
  type PolicyStore,
  type RefusalCount,
  type RequestStatus,
  type StoredGrant,
  type StoredRule,
} from './policy-store.js';
import { type AgentStore } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import { mfaRequired, mfaSettingKey, type SessionGate } from './session-gate.js';

export interface RuleView extends StoredRule {
  active: boolean;
}

export interface NewRule {
  effect?: 'allow' | 'deny' | undefined;
  technician?: string | undefined;
  group?: string | undefined;
  services?: string[] | undefined;
  notBeforeMs?: number | undefined;
  notAfterMs?: number | undefined;
  note?: string | undefined;
}

export type PolicyNotice = (
  type: 'access-request.accepted' | 'access-request.rejected',
  data: Record<string, unknown>,
) => void;

export class PolicyControl {
  readonly #store: AgentStore;
  readonly #policyStore: PolicyStore;
  readonly #audit: AuditLog;
  readonly #gate: SessionGate;
  readonly #clock: Clock;
  readonly #rejectionHoldMs: number;
  readonly #notify: PolicyNotice;

  constructor(options: {
    store: AgentStore;
    policyStore: PolicyStore;
    audit: AuditLog;
    gate: SessionGate;
    clock: Clock;
    rejectionHoldMs: number;
    notify: PolicyNotice;
  }) {
    this.#store = options.store;
    this.#policyStore = options.policyStore;
    this.#audit = options.audit;
    this.#gate = options.gate;
    this.#clock = options.clock;
    this.#rejectionHoldMs = options.rejectionHoldMs;
    this.#notify = options.notify;
  }

  /** Refused session attempts, counted per technician. */
  refusals(): Promise<RefusalCount[]> {
    return this.#policyStore.listRefusals();
  }

  async listRules(): Promise<RuleView[]> {
    const nowMs = this.#clock.now();
    return (await this.#policyStore.listRules()).map((rule) => ({
      ...rule,
      active: ruleIsActive(rule, nowMs),
    }));
  }

  async addRule(input: NewRule, actor: string, fromRequest: string | null = null): Promise<StoredRule> {
    const rule = this.#makeRule(input, actor, fromRequest);
    await this.#audit.record(actor, 'acl.add', ruleDetail(rule));
    await this.#policyStore.addRule(rule);
    await this.#gate.reevaluate();
    return rule;
  }

  async removeRule(id: string, actor: string): Promise<StoredRule> {
    const rule = await this.#policyStore.getRule(id);
    if (!rule) throw new LifelineError('API_NOT_FOUND', `no ACL rule ${id}`);
    await this.#audit.record(actor, 'acl.remove', ruleDetail(rule));
    await this.#policyStore.removeRule(id);
    await this.#gate.reevaluate();
    return rule;
  }

  listRequests(status?: RequestStatus): Promise<AccessRequest[]> {
    return this.#policyStore.listRequests(this.#clock.now(), status);
  }

  countPending(): Promise<number> {
    return this.#policyStore.countPending(this.#clock.now());
  }

  /** Accepts a pending request: an allow rule for that technician (by default for the service asked). */
  async accept(
    id: string,
    options: { forMs?: number | undefined; services?: string[] | undefined },
    actor: string,
  ): Promise<StoredRule> {
    const nowMs = this.#clock.now();
    const request = await this.#pending(id, nowMs);
    const rule = this.#makeRule(
      {
        technician: request.technician,
        services: options.services ?? [request.service],
        notAfterMs: options.forMs === undefined ? undefined : nowMs + options.forMs,
        note: `accepted access request ${request.id}`,
      },
      actor,
      request.id,
    );
    await this.#audit.record(actor, 'access-request.accepted', {
      requestId: request.id,
      technician: request.technician,
      service: request.service,
      ...ruleDetail(rule),
    });
    if (!(await this.#policyStore.acceptRequest(request.id, rule, actor, nowMs))) {
      throw new LifelineError('API_BAD_REQUEST', `access request ${id} was decided meanwhile`);
    }
    this.#notify('access-request.accepted', {
      requestId: request.id,
      technician: request.technician,
      service: request.service,
      ruleId: rule.id,
      by: actor,
    });
    return rule;
  }

  async reject(id: string, note: string | undefined, actor: string): Promise<AccessRequest> {
    const nowMs = this.#clock.now();
    const request = await this.#pending(id, nowMs);
    await this.#audit.record(actor, 'access-request.rejected', {
      requestId: request.id,
      technician: request.technician,
      service: request.service,
      note: note ?? null,
    });
    if (
      !(await this.#policyStore.rejectRequest(
        request.id,
        actor,
        note ?? null,
        nowMs,
        nowMs + this.#rejectionHoldMs,
      ))
    ) {
      throw new LifelineError('API_BAD_REQUEST', `access request ${id} was decided meanwhile`);
    }
    this.#notify('access-request.rejected', {
      requestId: request.id,
      technician: request.technician,
      service: request.service,
      note: note ?? null,
      by: actor,
    });
    return { ...request, status: 'rejected', decidedBy: actor, decidedAtMs: nowMs, note: note ?? null };
  }

  async grantOnce(
    options: { withinMs: number; technician?: string | undefined; services?: string[] | undefined },
    actor: string,
  ): Promise<StoredGrant> {
    const nowMs = this.#clock.now();
    checkServices(options.services);
    const grant: StoredGrant = {
      id: newPolicyId('G'),
      technician: options.technician ?? null,
      services: options.services ?? null,
      notAfterMs: nowMs + options.withinMs,
      usedAtMs: null,
      createdBy: actor,
      createdAtMs: nowMs,
      usedBySession: null,
    };
    await this.#audit.record(actor, 'grant.create', {
      grantId: grant.id,
      technician: grant.technician,
      services: grant.services,
      notAfter: new Date(grant.notAfterMs).toISOString(),
    });
    await this.#policyStore.setGrant(grant);
    return grant;
  }

  /** Whether every session must come from a login with a second factor (TOTP). */
  mfaRequired(): Promise<boolean> {
    return mfaRequired(this.#store);
  }

  /** Requires MFA for every session, or not; requiring it ends running password-only sessions. */
  async setMfaRequired(required: boolean, actor: string): Promise<void> {
    const before = await this.mfaRequired();
    await this.#audit.record(actor, 'policy.mfa', {
      from: before ? 'required' : 'optional',
      to: required ? 'required' : 'optional',
    });
    await this.#store.setSetting(mfaSettingKey, required);
    if (required) await this.#gate.reevaluate();
  }

  async currentGrant(): Promise<StoredGrant | null> {
    return (await this.#policyStore.currentGrant()) ?? null;
  }

  async #pending(id: string, nowMs: number): Promise<AccessRequest> {
    const request = await this.#policyStore.getRequest(id, nowMs);
    if (!request) throw new LifelineError('API_NOT_FOUND', `no access request ${id}`);
    if (request.status !== 'pending') {
      throw new LifelineError('API_BAD_REQUEST', `access request ${id} is ${request.status}, not pending`);
    }
    return request;
  }

  #makeRule(input: NewRule, actor: string, fromRequest: string | null): StoredRule {
    if ((input.technician === undefined) === (input.group === undefined)) {
      throw new LifelineError('API_BAD_REQUEST', 'a rule names either a technician or a group');
    }
    for (const [name, value] of [
      ['technician', input.technician],
      ['group', input.group],
    ] as const) {
      if (value !== undefined && !/^[A-Za-z0-9._@-]{1,128}$/.test(value)) {
        throw new LifelineError(
          'API_BAD_REQUEST',
          `${name}: expected letters, digits, . _ @ or - (at most 128)`,
        );
      }
    }
    checkServices(input.services);
    const nowMs = this.#clock.now();
    if (input.notAfterMs !== undefined && input.notAfterMs <= nowMs) {
      throw new LifelineError('API_BAD_REQUEST', 'the rule would already have expired');
    }
    return {
      id: newPolicyId('R'),
      effect: input.effect ?? 'allow',
      technician: input.technician ?? null,
      group: input.group ?? null,
      services: input.services ?? null,
      notBeforeMs: input.notBeforeMs ?? null,
      notAfterMs: input.notAfterMs ?? null,
      note: input.note ?? null,
      createdBy: actor,
      createdAtMs: nowMs,
      fromRequest,
    };
  }
}

function checkServices(services: string[] | undefined): void {
  if (services === undefined) return;
  if (services.length === 0)
    throw new LifelineError('API_BAD_REQUEST', 'services: give at least one service name');
  for (const service of services) {
    if (!isServiceName(service)) {
      throw new LifelineError(
        'API_BAD_REQUEST',
        `services: ${JSON.stringify(service)} is not a service name`,
      );
    }
  }
}

function ruleDetail(rule: StoredRule): Record<string, unknown> {
  return {
    ruleId: rule.id,
    effect: rule.effect,
    technician: rule.technician,
    group: rule.group,
    services: rule.services,
    notBefore: rule.notBeforeMs === null ? null : new Date(rule.notBeforeMs).toISOString(),
    notAfter: rule.notAfterMs === null ? null : new Date(rule.notAfterMs).toISOString(),
    note: rule.note,
    fromRequest: rule.fromRequest,
  };
}
