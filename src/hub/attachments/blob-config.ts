// hub.yaml `blobs:`: where the bytes of attachments live. One kind so far, a directory, which
// several hub nodes may share (one path, mounted on each); relative paths are taken from the data
// directory, and the default is where a single hub always kept them, so existing hubs keep working.

import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

export const defaultBlobsPath = 'attachments';

export const blobsConfigSchema = z
  .object(
    {
      kind: z
        .literal('directory', { error: "expected 'directory' (the one kind of blob store so far)" })
        .default('directory'),
      /** The directory holding the files, absolute or relative to the data directory. */
      path: z
        .string({ error: 'expected a directory path, absolute or relative to the data directory' })
        .min(1, 'expected a directory path, absolute or relative to the data directory')
        // eslint-disable-next-line no-control-regex
        .regex(/^[^\u0000]*$/, 'expected a directory path without NUL characters')
        .default(defaultBlobsPath),
    },
    { error: 'expected a mapping: { kind: directory, path: PATH }' },
  )
  .strict()
  .default({ kind: 'directory', path: defaultBlobsPath });

export type BlobsConfig = z.infer<typeof blobsConfigSchema>;

/** The directory of a `kind: directory` store, a relative path taken from the data directory. */
export function blobsDirOf(blobs: BlobsConfig, dataDir: string): string {
  return isAbsolute(blobs.path) ? blobs.path : resolve(dataDir, blobs.path);
}
