// hub.yaml `admission:`: how fast the hub takes new tunnels, so that a restart with thousands of
// stations redialling does not overwhelm it (see admission.ts).

import { z } from 'zod';
import { wholeNumberSchema } from '../../common/config/index.js';

export const admissionDefaults = { tunnelsPerSecond: 50 } as const;

export const admissionConfigSchema = z
  .object({
    /** New tunnels admitted in any one-second window; stations over it are told to retry later. */
    tunnelsPerSecond: wholeNumberSchema('tunnels per second', 1, 100_000).default(
      admissionDefaults.tunnelsPerSecond,
    ),
  })
  .strict()
  .default({ ...admissionDefaults });

export type AdmissionConfig = z.infer<typeof admissionConfigSchema>;
