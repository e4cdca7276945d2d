// hub.yaml `admission:`: how fast the hub takes new tunnels, so that a restart with thousands of
// stations redialling does not overwhelm it (see admission.ts).

import { z } from 'zod';

export const admissionDefaults = { tunnelsPerSecond: 50 } as const;

export const admissionConfigSchema = z
  .object({
    /** New tunnels admitted in any one-second window; stations over it are told to retry later. */
    tunnelsPerSecond: z
      .number({ error: 'expected a whole number of tunnels per second, from 1 to 100000' })
      .int({ error: 'expected a whole number of tunnels per second, from 1 to 100000' })
      .min(1, { error: 'expected a whole number of tunnels per second, from 1 to 100000' })
      .max(100_000, { error: 'expected a whole number of tunnels per second, from 1 to 100000' })
      .default(admissionDefaults.tunnelsPerSecond),
  })
  .strict()
  .default({ ...admissionDefaults });

export type AdmissionConfig = z.infer<typeof admissionConfigSchema>;
