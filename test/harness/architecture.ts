// Checks a source tree against its floor plan (architecture.yaml at the tree's root): which part
// may import which, that folders are entered through their index.ts, and the size limits. Only
// relative imports name parts; package imports are checked against `forbiddenModules` alone.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const partList = z.array(z.string().min(1));

export const architectureMapSchema = z
  .object({
    maxLines: z.number().int().positive(),
    maxFilesPerFolder: z.number().int().positive(),
    overLimit: partList.default([]),
    open: z.record(z.string(), z.union([z.literal('*'), partList])),
    configSections: partList.default([]),
    parts: z.record(z.string(), partList),
    tests: z.record(z.string(), partList).default({}),
    forbiddenModules: z.record(z.string(), partList).default({}),
  })
  .strict();

export type ArchitectureMap = z.infer<typeof architectureMapSchema>;

export type ViolationKind =
  | 'no-part'
  | 'forbidden-import'
  | 'deep-import'
  | 'forbidden-module'
  | 'too-long'
  | 'no-longer-over-limit'
  | 'too-many-files';

export interface Violation {
  kind: ViolationKind;
  /** Repository-relative, with forward slashes. */
  file: string;
  line: number;
  message: string;
}

/** The folders checked: the product, cross-process tests and benchmarks. */
const scannedRoots = ['src', 'test', 'bench'];
const sourceFile = /\.(ts|tsx|mts)$/;
const testFile = /\.test\.(ts|tsx|mts)$/;

export function loadArchitectureMap(rootDir: string): ArchitectureMap {
  const path = join(rootDir, 'architecture.yaml');
  const parsed = architectureMapSchema.safeParse(parseYaml(readFileSync(path, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${path}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'fixtures') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (sourceFile.test(name)) out.push(path);
  }
  return out;
}

/** Relative imports and package imports of one file, with their line numbers. */
export function importsOf(text: string): { spec: string; line: number }[] {
  const found: { spec: string; line: number }[] = [];
  const patterns = [
    /(?:^|\n)[ \t]*(?:import|export)\s[^;'"`]*?\sfrom\s+'([^']+)'/g,
    /(?:^|\n)[ \t]*import\s+'([^']+)'/g,
    /\bimport\(\s*'([^']+)'\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) {
      const spec = match[1] ?? '';
      const at = (match.index ?? 0) + match[0].indexOf(spec);
      found.push({ spec, line: text.slice(0, at).split('\n').length });
    }
  }
  return found.sort((a, b) => a.line - b.line);
}

function lineCount(text: string): number {
  return text.length === 0 ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

export function checkArchitecture(
  rootDir: string,
  map: ArchitectureMap = loadArchitectureMap(rootDir),
): Violation[] {
  const root = resolve(rootDir);
  const toRepo = (abs: string) => relative(root, abs).split(sep).join('/');
  const violations: Violation[] = [];
  const partKeys = Object.keys(map.parts).sort((a, b) => b.length - a.length);

  /** The part a repository path belongs to; a test file beside a file part belongs to that file. */
  const partOf = (path: string): string | undefined => {
    if (map.parts[path]) return path;
    if (testFile.test(path)) {
      // config-appliance.test.ts tests config.ts: try config-appliance.ts, then config.ts.
      const dir = posix.dirname(path);
      const words = posix.basename(path).replace(testFile, '').split('-');
      for (let n = words.length; n > 0; n--) {
        const subject = `${dir}/${words.slice(0, n).join('-')}.ts`;
        if (map.parts[subject]) return subject;
      }
    }
    return partKeys.find((key) => !sourceFile.test(key) && path.startsWith(key + '/'));
  };
  const allows = (allowed: readonly string[], target: string): boolean =>
    allowed.some((entry) =>
      entry.endsWith('/*') ? target.startsWith(entry.slice(0, -1)) : target === entry,
    );

  /** The index.ts an import of `target` from `file` must go through, or undefined when direct is fine. */
  const entranceFor = (file: string, target: string): string | undefined => {
    // Test helpers and benchmarks are not parts with entrances; only the product's folders are.
    if (!target.startsWith('src/')) return undefined;
    const fileParts = file.split('/');
    const targetDirs = posix.dirname(target).split('/');
    for (let depth = 1; depth <= targetDirs.length; depth++) {
      const dir = targetDirs.slice(0, depth).join('/');
      if (fileParts.slice(0, depth).join('/') === dir && fileParts.length > depth) continue;
      const rule = map.open[dir];
      if (rule === undefined) return `${dir}/index.ts`;
      if (posix.dirname(target) === dir) {
        const name = posix.basename(target);
        return rule === '*' || rule.includes(name) ? undefined : `${dir}/index.ts`;
      }
    }
    return undefined;
  };

  const files = scannedRoots
    .filter((d) => existsSync(join(root, d)))
    .flatMap((d) => sourceFiles(join(root, d)));
  const perFolder = new Map<string, number>();
  for (const abs of files) {
    const file = toRepo(abs);
    const text = readFileSync(abs, 'utf8');
    const isTest = testFile.test(file);
    if (file.startsWith('src/'))
      perFolder.set(posix.dirname(file), (perFolder.get(posix.dirname(file)) ?? 0) + 1);
    const lines = lineCount(text);
    const listedOver = map.overLimit.includes(file);
    if (lines <= map.maxLines && listedOver)
      violations.push({
        kind: 'no-longer-over-limit',
        file,
        line: lines,
        message: `${lines} lines: take it off overLimit in architecture.yaml`,
      });
    if (lines > map.maxLines && !listedOver)
      violations.push({
        kind: 'too-long',
        file,
        line: lines,
        message: `${lines} lines, over ${map.maxLines}`,
      });
    const part = partOf(file);
    if (!part) {
      violations.push({ kind: 'no-part', file, line: 1, message: 'belongs to no part of architecture.yaml' });
      continue;
    }
    const allowed = [...(map.parts[part] ?? []), ...(isTest ? (map.tests[part] ?? []) : [])];
    const forbidden = isTest ? [] : (map.forbiddenModules[part] ?? []);
    for (const { spec, line } of importsOf(text)) {
      if (!spec.startsWith('.')) {
        if (forbidden.includes(spec))
          violations.push({ kind: 'forbidden-module', file, line, message: `${part} may not use ${spec}` });
        continue;
      }
      const base = resolve(dirname(abs), spec);
      const targetAbs = [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.tsx'), base].find(
        (candidate) => existsSync(candidate) && statSync(candidate).isFile(),
      );
      if (!targetAbs) continue;
      const target = toRepo(targetAbs);
      if (!scannedRoots.some((d) => target.startsWith(d + '/'))) continue;
      const targetPart = partOf(target);
      if (targetPart && targetPart !== part && !allows(allowed, targetPart)) {
        violations.push({
          kind: 'forbidden-import',
          file,
          line,
          message: `${part} may not import ${targetPart} (${target})`,
        });
        continue;
      }
      const configSection = map.configSections.includes(file) && /-config\.ts$/.test(target);
      const entrance = configSection ? undefined : entranceFor(file, target);
      if (entrance && entrance !== target) {
        violations.push({
          kind: 'deep-import',
          file,
          line,
          message: `imports ${target} past ${entrance}: import the folder's index.ts`,
        });
      }
    }
  }
  for (const [folder, count] of perFolder) {
    if (count > map.maxFilesPerFolder)
      violations.push({
        kind: 'too-many-files',
        file: folder,
        line: 0,
        message: `${count} source files directly in it, over ${map.maxFilesPerFolder}`,
      });
  }
  return violations;
}

export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.file}:${v.line}: ${v.kind}: ${v.message}`).join('\n');
}
