// Service tickets: the claims the hub signs (EdDSA) for every session and the agent verifies.

import { z } from 'zod';

export const ticketIssuer = 'lifeline-hub';
/** A ticket lives at most this long (exp - iat), whatever the hub says. */
export const maxTicketLifetimeSeconds = 60;

export const authMethods = ['pwd', 'otp'] as const;

export const ticketClaimsSchema = z
  .object({
    iss: z.literal(ticketIssuer),
    aud: z.string(),
    sub: z.string().min(1).max(128),
    name: z.string().min(1).max(128),
    groups: z.array(z.string().max(64)).max(64),
    // Any text the technician asked for: the agent, not the hub, judges whether it names a service.
    svc: z.string().min(1).max(255),
    sid: z.string().regex(/^[0-9a-f]{32}$/),
    jti: z.string().regex(/^[0-9a-f]{32}$/),
    iat: z.number().int(),
    exp: z.number().int(),
    amr: z.array(z.enum(authMethods)).min(1),
    reason: z.string().max(500).optional(),
  })
  .strict();

export type TicketClaims = z.infer<typeof ticketClaimsSchema>;
