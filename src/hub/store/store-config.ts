// hub.yaml `store:`: where the hub keeps its state. SQLite (one file in the data directory, the
// default: one hub node) or PostgreSQL (several hub nodes sharing one database). The database
// password is never in hub.yaml in clear unless the operator puts it in the URL: store.passwordFile
// or LIFELINE_HUB_STORE_PASSWORD give it instead.

import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';

/** The environment variable a PostgreSQL password may come from. */
export const storePasswordEnv = 'LIFELINE_HUB_STORE_PASSWORD';

const postgresUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}, 'expected postgres://USER@HOST:PORT/DATABASE');

export const storeConfigSchema = z
  .object({
    kind: z.enum(['sqlite', 'postgres'], { error: 'expected sqlite or postgres' }).default('sqlite'),
    /**
     * Free space kept on the data directory's filesystem: below it stations' reports and
     * attachment chunks are refused (STORE_FULL, sent again later) while the rest goes on.
     */
    minFreeMb: z.number().int().min(1).max(1_000_000).default(64),
    /** kind postgres: the database, postgres://USER@HOST:PORT/DATABASE. */
    url: postgresUrl.optional(),
    /** kind postgres: a file holding the password (relative paths: in the data directory). */
    passwordFile: z.string().min(1).optional(),
    /** kind postgres: most connections one hub node holds. */
    poolSize: z.number().int().min(1).max(200).default(10),
  })
  .strict()
  .superRefine((store, ctx) => {
    if (store.kind === 'postgres' && store.url === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'kind postgres needs url: postgres://USER@HOST:PORT/DATABASE',
      });
    if (store.kind === 'sqlite')
      for (const key of ['url', 'passwordFile'] as const)
        if (store[key] !== undefined)
          ctx.addIssue({ code: 'custom', path: [key], message: 'only for kind postgres' });
  })
  .default({ kind: 'sqlite', minFreeMb: 64, poolSize: 10 });

export type StoreConfig = z.infer<typeof storeConfigSchema>;

/**
 * The PostgreSQL password: from store.passwordFile, else from the environment, else undefined
 * (the URL's own, if any). Errors name the setting, never the password.
 */
export function storePassword(
  store: StoreConfig,
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (store.passwordFile !== undefined) {
    const path = isAbsolute(store.passwordFile) ? store.passwordFile : join(dataDir, store.passwordFile);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new LifelineError(
        'CONFIG_INVALID',
        `store.passwordFile: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        { cause: err },
      );
    }
    const password = text.replace(/\r?\n$/, '');
    if (password === '') throw new LifelineError('CONFIG_INVALID', `store.passwordFile: ${path} is empty`);
    return password;
  }
  const fromEnv = env[storePasswordEnv];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}
