// hub.yaml `drain:`: how long a hub node told to stop (SIGTERM) lets running sessions finish
// before it ends them, while it takes no new tunnels or session requests (see hub.ts drain()).

import { z } from 'zod';
import { durationSchema } from '../../common/config/index.js';

export const drainDefaults = { deadline: 30_000 } as const;

export const drainConfigSchema = z
  .object({
    /** The longest a drain waits for running sessions; those still running then end (`hub-drain-deadline`). */
    deadline: durationSchema('30s', { maxMs: 3_600_000 }),
  })
  .strict()
  .default({ ...drainDefaults });

export type DrainConfig = z.infer<typeof drainConfigSchema>;
