// Admin API routes of call home: accept reports (from the appliance software that embeds
// Lifeline, and the CLI), open problems, and show exactly what waits and what was sent.

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import {
  checkReportPayload,
  problemOpenSchema,
  genericPayloadSchema,
  managedSystemSchema,
  reportKinds,
  severities,
} from '../../protocol/index.js';
import type { Outbox } from '../callhome/index.js';
import type { ProblemDesk } from '../callhome/index.js';

export function registerCallHomeRoutes(
  app: FastifyInstance,
  outbox: Outbox,
  pause: (untilMs: number | null, actor: string) => Promise<void>,
  actor: (ip: string) => string,
  problems: ProblemDesk,
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/v1/reports',
    {
      schema: {
        body: z
          .object({
            kind: z.enum(reportKinds),
            payload: genericPayloadSchema,
            orderKey: z.string().max(64).optional(),
            hold: z.boolean().optional(),
          })
          .strict(),
      },
    },
    async (request, reply) => {
      const { kind, payload, orderKey, hold } = request.body;
      // Problem reports go through the problem list (and storm control), whoever sends them.
      if (kind.startsWith('problem.')) {
        const invalid = checkReportPayload(kind, payload);
        if (invalid) throw new LifelineError('CALLHOME_REPORT_INVALID', `invalid ${kind} report: ${invalid}`);
        const localId = String(payload.localId);
        const result =
          kind === 'problem.open'
            ? await problems.open(problemOpenSchema.parse(payload))
            : kind === 'problem.update'
              ? await problems.update(localId, String(payload.note))
              : await problems.close(localId, typeof payload.note === 'string' ? payload.note : undefined);
        return reply.code(202).send({ ...result.report, problem: result });
      }
      const accepted = await outbox.accept(kind, payload, {
        ...(orderKey ? { orderKey } : {}),
        ...(hold ? { hold } : {}),
      });
      return reply.code(202).send(accepted);
    },
  );

  // Many reports in one request (performance samples, statistics): each is accepted as by
  // POST /v1/reports and committed before the answer; each has its own result.
  api.post(
    '/v1/reports/batch',
    {
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        body: z
          .object({
            reports: z
              .array(
                z
                  .object({
                    kind: z.enum(reportKinds).refine((kind) => !kind.startsWith('problem.'), {
                      message: 'problem reports go one at a time to POST /v1/problems or POST /v1/reports',
                    }),
                    payload: genericPayloadSchema,
                    orderKey: z.string().max(64).optional(),
                    hold: z.boolean().optional(),
                  })
                  .strict(),
              )
              .min(1)
              .max(1000),
          })
          .strict(),
      },
    },
    async (request, reply) => {
      const settled = await Promise.allSettled(
        request.body.reports.map(({ kind, payload, orderKey, hold }) =>
          outbox.accept(kind, payload, {
            ...(orderKey ? { orderKey } : {}),
            ...(hold ? { hold } : {}),
          }),
        ),
      );
      const results = settled.map((outcome) => {
        if (outcome.status === 'fulfilled') return { status: 202, ...outcome.value };
        const err =
          outcome.reason instanceof LifelineError
            ? outcome.reason
            : new LifelineError('INTERNAL', 'the report was not accepted', { cause: outcome.reason });
        return { status: err.httpStatus, code: err.code, message: err.message };
      });
      return reply.code(200).send({ results });
    },
  );

  api.post(
    '/v1/problems',
    {
      schema: {
        body: z
          .object({
            summary: z.string().min(1).max(500),
            severity: z.enum(severities),
            referenceCode: z.string().max(64).optional(),
            description: z.string().max(20_000).optional(),
            system: managedSystemSchema.optional(),
            parts: z.array(z.string().max(128)).max(100).optional(),
          })
          .strict(),
      },
    },
    async (request, reply) => {
      // Every report of one problem shares its order key: an update never overtakes its open.
      const result = await problems.open(request.body);
      return reply.code(202).send(result);
    },
  );

  api.post(
    '/v1/problems/:localId/:action',
    {
      schema: {
        params: z.object({
          localId: z.string().regex(/^PB-[0-9A-Z]{6}$/),
          action: z.enum(['update', 'close']),
        }),
        body: z
          .object({ note: z.string().min(1).max(20_000).optional() })
          .strict()
          .default({}),
      },
    },
    async (request, reply) => {
      const { localId, action } = request.params;
      if (action === 'update' && !request.body.note)
        throw new LifelineError('API_BAD_REQUEST', 'an update needs a note');
      const result =
        action === 'update'
          ? await problems.update(localId, request.body.note ?? '')
          : await problems.close(localId, request.body.note);
      return reply.code(202).send(result);
    },
  );

  api.put(
    '/v1/callhome/pause',
    {
      schema: {
        body: z
          .object({
            forMs: z
              .number()
              .int()
              .min(1000)
              .max(30 * 86_400_000),
          })
          .strict(),
      },
    },
    async (request) => {
      const untilMs = Date.now() + request.body.forMs;
      await pause(untilMs, actor(request.ip));
      return outbox.status();
    },
  );

  api.delete('/v1/callhome/pause', async (request) => {
    await pause(null, actor(request.ip));
    return outbox.status();
  });

  api.get('/v1/outbox', async () => {
    const box = outbox;
    const store = box.store;
    return {
      status: await box.status(),
      waiting: [
        ...(await store.list({ state: 'pending' })),
        ...(await store.list({ state: 'held' })),
        ...(await store.list({ state: 'rejected' })),
      ].map(({ body: _body, ...item }) => item),
    };
  });

  api.post(
    '/v1/outbox/release',
    {
      schema: {
        body: z.object({ id: z.union([z.string().regex(/^[0-9a-f]{32}$/), z.literal('all')]) }).strict(),
      },
    },
    async (request) => ({ released: await outbox.release(request.body.id) }),
  );

  api.get(
    '/v1/sent',
    {
      schema: {
        querystring: z
          .object({
            after: z.coerce.number().int().nonnegative().optional(),
            report: z
              .string()
              .regex(/^[0-9a-f]{32}$/)
              .optional(),
          })
          .strict(),
      },
    },
    async (request) => {
      const { after, report } = request.query;
      // Without `after`: the newest first, as a person reading the log wants them.
      const transmissions = await outbox.store.listTransmissions({
        ...(after !== undefined ? { afterSeq: after } : { newestFirst: true }),
        ...(report !== undefined ? { reportId: report } : {}),
      });
      return { transmissions };
    },
  );

  api.get(
    '/v1/sent/:reportId',
    { schema: { params: z.object({ reportId: z.string().regex(/^[0-9a-f]{32}$/) }) } },
    async (request, reply) => {
      const item = await outbox.store.get(request.params.reportId);
      if (!item) throw new LifelineError('API_NOT_FOUND', `no report ${request.params.reportId}`);
      // The exact bytes that left (or will leave) the appliance.
      return reply.type('application/json').send(item.body);
    },
  );
}
