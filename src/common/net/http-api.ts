// Shared set-up of the fastify APIs (agent admin, hub technician): zod schemas at the boundary and
// every error as { code, message } with the code's HTTP status; no stack leaves the process.

import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
} from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { LifelineError, toLifelineError } from '../errors.js';
import type { Logger } from '../logger.js';

export function installApiConventions<S extends RawServerBase, L extends FastifyBaseLogger>(
  app: FastifyInstance<S, RawRequestDefaultExpression<S>, RawReplyDefaultExpression<S>, L>,
  logger: Logger,
): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send({ code: 'API_NOT_FOUND', message: `no such endpoint: ${request.method} ${request.url}` });
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation) {
      const message = err.validation
        .map(
          (issue) =>
            `${issue.instancePath || err.validationContext || 'request'}: ${issue.message ?? 'invalid'}`,
        )
        .join('; ');
      void reply.code(400).send({ code: 'API_BAD_REQUEST', message });
      return;
    }
    if (!(err instanceof LifelineError) && typeof err.statusCode === 'number' && err.statusCode < 500) {
      void reply.code(err.statusCode).send({ code: 'API_BAD_REQUEST', message: err.message });
      return;
    }
    const error = toLifelineError(err);
    if (error.code === 'INTERNAL') logger.error({ err, reqId: request.id }, 'request failed');
    void reply.code(error.httpStatus).send(error.toJSON());
  });
}
