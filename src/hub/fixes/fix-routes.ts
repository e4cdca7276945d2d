// Call-home routes of the fix catalog, for enrolled stations only: the signed statements, and each
// fix's file with single byte ranges so an interrupted download resumes. The hub serves whatever
// bytes lie on its disk: the agent, not the hub, checks them against the signed statement.

import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import {
  applianceModelSchema,
  contentRange,
  fixNameSchema,
  fixVersionSchema,
  parseByteRange,
} from '../../protocol/index.js';
import type { HubStore } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';
import { callingStation } from '../stations/index.js';

export function registerFixRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: { store: HubStore; audit: HubAudit; dataDir: string },
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { store, audit } = options;

  api.get(
    '/v1/fixes',
    { schema: { querystring: z.object({ model: applianceModelSchema.optional() }).strict() } },
    async (request) => {
      await callingStation(request.raw, store);
      const fixes = await store.fixes.list({ model: request.query.model });
      return { fixes: fixes.map((fix) => ({ statement: fix.statement })) };
    },
  );

  api.get(
    '/v1/fixes/:name/:version/file',
    { schema: { params: z.object({ name: fixNameSchema, version: fixVersionSchema }).strict() } },
    async (request, reply) => {
      const { stationId } = await callingStation(request.raw, store);
      const { name, version } = request.params;
      const fix = await store.fixes.get(name, version);
      if (!fix) throw new LifelineError('CALLHOME_FIX_NOT_FOUND', `no fix ${name} ${version} on this hub`);
      const path = join(options.dataDir, fix.path);
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        throw new LifelineError(
          'CALLHOME_FIX_NOT_FOUND',
          `the file of fix ${name} ${version} is missing on the hub`,
        );
      }
      const range = parseByteRange(request.headers.range, size);
      void reply.header('accept-ranges', 'bytes');
      if (range.kind === 'unsatisfiable') {
        return reply
          .code(416)
          .header('content-range', contentRange(range, size))
          .send({ code: 'API_BAD_REQUEST', message: `the range is beyond the file's ${size} bytes` });
      }
      const start = range.kind === 'partial' ? range.start : 0;
      const end = range.kind === 'partial' ? range.end : size - 1;
      await audit.record(`station:${stationId}`, 'fix.served', stationId, {
        name,
        version,
        from: start,
        to: end + 1,
      });
      if (range.kind === 'partial') {
        void reply.code(206).header('content-range', contentRange(range, size));
      }
      void reply.header('content-type', 'application/octet-stream').header('content-length', end + 1 - start);
      if (end < start) return reply.send(Buffer.alloc(0));
      return reply.send(createReadStream(path, { start, end }));
    },
  );
}
