import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { formatZodIssues, loadConfigFile, parseConfig } from './config-file.js';
import { LifelineError } from '../errors.js';

const schema = z
  .object({
    name: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(8080),
    nested: z
      .object({ level: z.enum(['low', 'high']).default('low') })
      .strict()
      .default({ level: 'low' }),
    tags: z.array(z.string()).default([]),
  })
  .strict();

const allDefaults = z
  .object({
    port: z.number().default(1),
    log: z
      .object({ level: z.string().default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .default({ port: 1, log: { level: 'info' } });

function configError(code: string, ...fragments: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof LifelineError, `expected a LifelineError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const fragment of fragments) assert.ok(err.message.includes(fragment), err.message);
    return true;
  };
}

describe('loadConfigFile', () => {
  let dir: string;
  let count = 0;
  const file = (text: string): string => {
    const path = join(dir, `config-${++count}.yaml`);
    writeFileSync(path, text);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lifeline-config-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('reads YAML, fills in the defaults and freezes the result', () => {
    const config = loadConfigFile(schema, file('# a comment\nname: hub\ntags: [a, b]\n'));
    assert.deepEqual(config, { name: 'hub', port: 8080, nested: { level: 'low' }, tags: ['a', 'b'] });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.nested));
    assert.ok(Object.isFrozen(config.tags));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => {
      (config.nested as { level: string }).level = 'high';
    }, TypeError);
    assert.throws(() => {
      config.tags.push('c');
    }, TypeError);
  });

  test('defaults do not leak from one load to the next', () => {
    const first = loadConfigFile(schema, file('name: one\n'));
    const second = loadConfigFile(schema, file('name: two\nnested: {level: high}\n'));
    assert.equal(first.nested.level, 'low');
    assert.equal(second.nested.level, 'high');
    assert.equal(loadConfigFile(schema, file('name: three\n')).nested.level, 'low');
  });

  test('an unknown key is an error that names the key with its path and the file', () => {
    const path = file('name: hub\ncolour: blue\n');
    assert.throws(
      () => loadConfigFile(schema, path),
      configError('CONFIG_INVALID', path, 'colour: unknown key'),
    );
    assert.throws(
      () => loadConfigFile(schema, file('name: hub\nnested:\n  level: high\n  depth: 3\n')),
      configError('CONFIG_INVALID', 'nested.depth: unknown key'),
    );
    assert.throws(
      () => loadConfigFile(schema, file('name: hub\nextra: 1\nnested: {other: 2}\n')),
      configError('CONFIG_INVALID', 'extra: unknown key', 'nested.other: unknown key'),
    );
  });

  test('a wrong type names the key and the expected form', () => {
    assert.throws(
      () => loadConfigFile(schema, file('name: hub\nport: "8443"\n')),
      configError('CONFIG_INVALID', 'port: ', 'expected number'),
    );
    assert.throws(
      () => loadConfigFile(schema, file('name: hub\nnested: {level: medium}\n')),
      configError('CONFIG_INVALID', 'nested.level: ', '"low"|"high"'),
    );
    assert.throws(
      () => loadConfigFile(schema, file('name: hub\ntags: [a, 2]\n')),
      configError('CONFIG_INVALID', 'tags.1: ', 'expected string'),
    );
    assert.throws(
      () => loadConfigFile(schema, file('port: 80\n')),
      configError('CONFIG_INVALID', 'name: ', 'expected string'),
    );
  });

  test('several problems are reported together', () => {
    assert.throws(
      () => loadConfigFile(schema, file('port: 0\nnested: {level: 1}\nsize: 3\n')),
      (err: unknown) => {
        assert.ok(err instanceof LifelineError);
        const problems = err.message.slice(err.message.indexOf(': ') + 2).split('; ');
        assert.equal(problems.length, 4, err.message);
        return true;
      },
    );
  });

  test('a YAML syntax error is CONFIG_INVALID naming the file', () => {
    const path = file('name: hub\nnested: {level: high\n');
    assert.throws(
      () => loadConfigFile(schema, path),
      (err: unknown) => {
        configError('CONFIG_INVALID', path, 'not valid YAML')(err);
        assert.ok((err as Error).cause instanceof Error);
        return true;
      },
    );
    assert.throws(
      () => loadConfigFile(schema, file('name: hub\n\tport: 1\n')),
      configError('CONFIG_INVALID', 'not valid YAML'),
    );
  });

  test('a missing or unreadable file is CONFIG_NOT_FOUND naming the path', () => {
    const missing = join(dir, 'nope.yaml');
    assert.throws(() => loadConfigFile(schema, missing), configError('CONFIG_NOT_FOUND', missing, 'ENOENT'));
    assert.throws(() => loadConfigFile(schema, dir), configError('CONFIG_NOT_FOUND', dir, 'EISDIR'));
  });

  test('an empty file is an empty mapping', () => {
    assert.deepEqual(loadConfigFile(allDefaults, file('')), { port: 1, log: { level: 'info' } });
    assert.deepEqual(loadConfigFile(allDefaults, file('# nothing but a comment\n')), {
      port: 1,
      log: { level: 'info' },
    });
    assert.throws(() => loadConfigFile(schema, file('')), configError('CONFIG_INVALID', 'name: '));
  });

  test('a document that is not a mapping is reported at the top level', () => {
    assert.throws(
      () => loadConfigFile(schema, file('- name\n- hub\n')),
      configError('CONFIG_INVALID', '(top level): ', 'expected object'),
    );
  });
});

describe('parseConfig', () => {
  test('names the source in the message', () => {
    assert.throws(
      () => parseConfig(schema, { name: 'x', bogus: true }, 'hub init'),
      configError('CONFIG_INVALID', 'hub init: bogus: unknown key'),
    );
  });

  test('returns a deeply frozen copy of the parsed value', () => {
    const input = { name: 'x', tags: ['a'] };
    const config = parseConfig(schema, input, 'test');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.tags));
    assert.ok(!Object.isFrozen(input), 'the input is not frozen');
  });
});

describe('formatZodIssues', () => {
  test('joins issues and puts a prefix before each path', () => {
    const result = schema.safeParse({ port: 'x', more: 1 });
    assert.ok(!result.success);
    const text = formatZodIssues(result.error, 'hub');
    assert.ok(text.includes('hub.more: unknown key'), text);
    assert.ok(text.includes('hub.port: '), text);
    assert.ok(text.includes('hub.name: '), text);
    assert.equal(text.split('; ').length, 3, text);
  });
});
