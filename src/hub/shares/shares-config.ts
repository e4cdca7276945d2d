// hub.yaml `shares:`: what one user or one station may hold of the hub's resources, with the
// defaults the hub runs with when the file says nothing.

import { z } from 'zod';
import { durationSchema as duration, wholeNumberSchema as wholeNumber } from '../../common/config/index.js';

/** An attachment may be up to 64 GiB: a station's pending share must hold at least one. */
const minUploadPendingGb = 64;

export const sharesDefaults = {
  perUser: {
    feedStreams: 8,
    downloadLinks: 100,
    sessionRequests: 300,
    sessionRequestWindow: 60_000,
    sessionOpens: 64,
  },
  perStation: { uploads: 8, uploadPendingGb: 256 },
} as const;

/** hub.yaml `shares:`: what one user or one station may hold of the hub's resources. */
export const sharesConfigSchema = z
  .object({
    perUser: z
      .object({
        /** Live console pages (change-feed streams) open at once; the hub holds 64 in all. */
        feedStreams: wholeNumber('live pages per user', 1, 64).default(sharesDefaults.perUser.feedStreams),
        /** Download links made and not yet used or expired; the hub holds 1000 in all. */
        downloadLinks: wholeNumber('download links per user', 1, 1000).default(
          sharesDefaults.perUser.downloadLinks,
        ),
        /** Session requests and console session requests within sessionRequestWindow. */
        sessionRequests: wholeNumber('session requests per user', 1, 100_000).default(
          sharesDefaults.perUser.sessionRequests,
        ),
        sessionRequestWindow: duration('1m', { minMs: 1000, maxMs: 86_400_000 }),
        /** Session requests waiting for their station's answer at once. */
        sessionOpens: wholeNumber('session requests in flight per user', 1, 10_000).default(
          sharesDefaults.perUser.sessionOpens,
        ),
      })
      .strict()
      .prefault({}),
    perStation: z
      .object({
        /** Unfinished uploads of one station. */
        uploads: wholeNumber('unfinished uploads per station', 1, 10_000).default(
          sharesDefaults.perStation.uploads,
        ),
        /** The announced sizes of one station's unfinished uploads, in GiB. */
        uploadPendingGb: wholeNumber('GiB', minUploadPendingGb, 1_000_000).default(
          sharesDefaults.perStation.uploadPendingGb,
        ),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export type SharesConfig = z.infer<typeof sharesConfigSchema>;
