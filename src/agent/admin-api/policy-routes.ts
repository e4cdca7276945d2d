// Admin API routes of the access policy: ACL rules, access requests, one-time access, refusals,
// and whether every session needs MFA.

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { serviceNameSchema } from '../../protocol/index.js';
import { requestStatuses } from '../sessions/index.js';
import type { AgentControl } from './agent-control.js';

const identity = z.string().regex(/^[A-Za-z0-9._@-]{1,128}$/, 'letters, digits, . _ @ or - (at most 128)');
const durationMs = z
  .number()
  .int()
  .min(1000)
  .max(366 * 86_400_000);
const ruleId = z.object({ id: z.string().regex(/^R-[0-9A-Z]{6}$/, 'a rule id such as R-7KQ39X') });
const requestId = z.object({ id: z.string().regex(/^AR-[0-9A-Z]{6}$/, 'a request id such as AR-7KQ39X') });

export function registerPolicyRoutes(
  app: FastifyInstance,
  control: AgentControl,
  actor: (ip: string) => string,
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const policy = control.policyControl;

  api.get('/v1/acl', async () => ({ rules: await policy.listRules() }));

  api.post(
    '/v1/acl',
    {
      schema: {
        body: z
          .object({
            effect: z.enum(['allow', 'deny']).optional(),
            technician: identity.optional(),
            group: identity.optional(),
            services: z.array(serviceNameSchema).min(1).max(64).optional(),
            notBeforeMs: z.number().int().nonnegative().optional(),
            notAfterMs: z.number().int().nonnegative().optional(),
            forMs: durationMs.optional(),
            note: z.string().max(500).optional(),
          })
          .strict()
          .refine(
            (b) => (b.technician === undefined) !== (b.group === undefined),
            'name either a technician or a group',
          )
          .refine(
            (b) => b.notAfterMs === undefined || b.forMs === undefined,
            'give notAfterMs or forMs, not both',
          ),
      },
    },
    async (request, reply) => {
      const { forMs, ...rule } = request.body;
      const created = await policy.addRule(
        { ...rule, ...(forMs !== undefined ? { notAfterMs: Date.now() + forMs } : {}) },
        actor(request.ip),
      );
      return reply.code(201).send({ rule: created });
    },
  );

  api.delete('/v1/acl/:id', { schema: { params: ruleId } }, async (request) => ({
    removed: await policy.removeRule(request.params.id, actor(request.ip)),
  }));

  api.get(
    '/v1/requests',
    { schema: { querystring: z.object({ status: z.enum(requestStatuses).optional() }).strict() } },
    async (request) => ({ requests: await policy.listRequests(request.query.status) }),
  );

  api.post(
    '/v1/requests/:id/accept',
    {
      schema: {
        params: requestId,
        body: z
          .object({
            forMs: durationMs.optional(),
            services: z.array(serviceNameSchema).min(1).max(64).optional(),
          })
          .strict()
          .default({}),
      },
    },
    async (request) => ({
      rule: await policy.accept(request.params.id, request.body, actor(request.ip)),
    }),
  );

  api.post(
    '/v1/requests/:id/reject',
    {
      schema: {
        params: requestId,
        body: z
          .object({ note: z.string().max(500).optional() })
          .strict()
          .default({}),
      },
    },
    async (request) => ({
      request: await policy.reject(request.params.id, request.body.note, actor(request.ip)),
    }),
  );

  api.post(
    '/v1/grants',
    {
      schema: {
        body: z
          .object({
            withinMs: durationMs.default(30 * 60_000),
            technician: identity.optional(),
            services: z.array(serviceNameSchema).min(1).max(64).optional(),
          })
          .strict(),
      },
    },
    async (request, reply) =>
      reply.code(201).send({ grant: await policy.grantOnce(request.body, actor(request.ip)) }),
  );

  api.get('/v1/grants/current', async () => ({ grant: await policy.currentGrant() }));

  api.get('/v1/refusals', async () => ({ refusals: await control.refusals() }));

  api.get('/v1/mfa', async () => ({ mfa: (await policy.mfaRequired()) ? 'required' : 'optional' }));

  api.put(
    '/v1/mfa',
    { schema: { body: z.object({ mfa: z.enum(['required', 'optional']) }).strict() } },
    async (request) => {
      await policy.setMfaRequired(request.body.mfa === 'required', actor(request.ip));
      return { mfa: (await policy.mfaRequired()) ? 'required' : 'optional' };
    },
  );
}
