// Config files: YAML checked against a strict zod schema. An error names the key and the expected
// form; an unknown key is an error; the result is frozen.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { LifelineError } from '../errors.js';

export function formatZodIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const where = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `${[where, key].filter(Boolean).join('.')}: unknown key`).join('; ');
      }
      return `${where || '(top level)'}: ${issue.message}`;
    })
    .join('; ');
}

export function parseConfig<S extends z.ZodType>(
  schema: S,
  value: unknown,
  source: string,
): Readonly<z.infer<S>> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new LifelineError('CONFIG_INVALID', `${source}: ${formatZodIssues(result.error)}`);
  }
  return deepFreeze(result.data);
}

export function loadConfigFile<S extends z.ZodType>(schema: S, path: string): Readonly<z.infer<S>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LifelineError(
      'CONFIG_NOT_FOUND',
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        cause: err,
      },
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new LifelineError('CONFIG_INVALID', `${path}: not valid YAML: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseConfig(schema, value, path);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
