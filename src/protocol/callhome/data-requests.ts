// Requests for more error data on the call-home channel. The hub cannot reach the appliance, so
// the agent asks (GET /v1/data-requests) on its poll interval and answers each request
// (POST /v1/data-requests/:id/answer) once its administrator has sent the data or declined.

import { z } from 'zod';

export const dataRequestIdSchema = z
  .string()
  .regex(/^DR-[0-9A-Z]{8}$/, 'a data request id: DR- and 8 characters');

export const stationDataRequestSchema = z
  .object({
    id: dataRequestIdSchema,
    /** The vendor's problem number. */
    problemNumber: z.string().max(32),
    /** The appliance's own id of the problem. */
    localId: z.string().regex(/^PB-[0-9A-Z]{6}$/),
    note: z.string().max(20_000),
    requestedAtMs: z.number().int().nonnegative(),
  })
  .strict();

export type StationDataRequestWire = z.infer<typeof stationDataRequestSchema>;

export const dataRequestListSchema = z
  .object({ requests: z.array(stationDataRequestSchema).max(100) })
  .strict();

export const dataRequestAnswerSchema = z
  .object({
    /** answered: the data was attached to the problem; declined: it will not be sent. */
    state: z.enum(['answered', 'declined']),
    note: z.string().max(20_000).nullable(),
    answeredAtMs: z.number().int().nonnegative(),
  })
  .strict();

export type DataRequestAnswer = z.infer<typeof dataRequestAnswerSchema>;

export const dataRequestAnswerResultSchema = z
  .object({
    state: z.enum(['open', 'answered', 'declined']),
    /** True when the hub had an answer already (this one changed nothing). */
    duplicate: z.boolean(),
  })
  .strict();
