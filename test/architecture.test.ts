// The floor plan is a test: architecture.yaml names the parts and the imports allowed between
// them, and the source tree must keep to it. Fixture trees show that each rule can fail.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkArchitecture, formatViolations, type Violation } from './harness/architecture.js';
import { repoRoot } from './harness/cluster.js';

test('the source tree keeps to architecture.yaml', () => {
  const violations = checkArchitecture(repoRoot);
  assert.equal(violations.length, 0, `\n${formatViolations(violations)}`);
});

describe('a fixture tree', () => {
  const roots: string[] = [];
  after(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  const map = `
maxLines: 10
maxFilesPerFolder: 4
open: { src: [], src/common: '*', src/hub: [index.ts], src/agent: [index.ts] }
parts:
  src/common: []
  src/protocol: [src/common]
  src/agent/link: [src/common, src/protocol]
  src/hub/stations: [src/common, src/protocol]
  src/hub/console: [src/common, src/hub/stations]
forbiddenModules:
  src/protocol: [node:net]
`;

  /** A tree with the map above and these files (path -> text); returns its violations. */
  function check(files: Record<string, string>, extraMap = ''): Violation[] {
    const root = mkdtempSync(join(tmpdir(), 'lifeline-architecture-'));
    roots.push(root);
    writeFileSync(join(root, 'architecture.yaml'), map + extraMap);
    const base: Record<string, string> = {
      'src/common/errors.ts': 'export const e = 1;\n',
      'src/protocol/index.ts': "export * from './wire.js';\n",
      'src/protocol/wire.ts': "import { e } from '../common/errors.js';\nexport const w = e;\n",
      'src/agent/link/index.ts': "export { dial } from './dialer.js';\n",
      'src/agent/link/dialer.ts': "import { w } from '../../protocol/index.js';\nexport const dial = w;\n",
      'src/hub/stations/index.ts': "export { listen } from './listener.js';\n",
      'src/hub/stations/listener.ts':
        "import { w } from '../../protocol/index.js';\nexport const listen = w;\n",
    };
    for (const [path, text] of Object.entries({ ...base, ...files })) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return checkArchitecture(root);
  }
  const kinds = (violations: Violation[]) => violations.map((v) => `${v.kind} ${v.file}:${v.line}`);

  test('keeping to the map: no violations', () => {
    assert.deepEqual(
      check({
        'src/hub/console/routes.ts':
          "import { listen } from '../stations/index.js';\nexport const r = listen;\n",
      }),
      [],
    );
  });

  test('a file in src/hub that imports from src/agent fails, through an index or not', () => {
    const violations = check({
      'src/hub/stations/tunnel.ts':
        "import { w } from '../../protocol/index.js';\nimport { dial } from '../../agent/link/index.js';\nexport const t = [w, dial];\n",
      'src/hub/stations/renew.ts':
        "import { dial } from '../../agent/link/dialer.js';\nexport const r = dial;\n",
    });
    assert.deepEqual(kinds(violations), [
      'forbidden-import src/hub/stations/renew.ts:1',
      'forbidden-import src/hub/stations/tunnel.ts:2',
    ]);
    assert.match(violations[1]?.message ?? '', /src\/hub\/stations may not import src\/agent\/link/);
  });

  test("an import that reaches past another part's index.ts fails", () => {
    const violations = check({
      'src/hub/console/routes.ts':
        "import { listen } from '../stations/listener.js';\nexport const r = listen;\n",
    });
    assert.deepEqual(kinds(violations), ['deep-import src/hub/console/routes.ts:1']);
    assert.match(violations[0]?.message ?? '', /past src\/hub\/stations\/index\.ts/);
  });

  test('a file over maxLines, a folder over maxFilesPerFolder and a file in no part fail', () => {
    const violations = check({
      'src/common/long.ts': 'export const a = 1;\n'.repeat(11),
      'src/common/b.ts': 'export const b = 1;\n',
      'src/common/c.ts': 'export const c = 1;\n',
      'src/common/d.ts': 'export const d = 1;\n',
      'src/hub/stray.ts': 'export const s = 1;\n',
    });
    assert.deepEqual(kinds(violations).sort(), [
      'no-part src/hub/stray.ts:1',
      'too-long src/common/long.ts:11',
      'too-many-files src/common:0',
    ]);
  });

  test('a file listed in overLimit may be long, and fails once it is not', () => {
    const long = 'export const a = 1;\n'.repeat(11);
    const listed = '\noverLimit: [src/common/long.ts, src/common/short.ts]\n';
    assert.deepEqual(
      kinds(check({ 'src/common/long.ts': long, 'src/common/short.ts': 'export const s = 1;\n' }, listed)),
      ['no-longer-over-limit src/common/short.ts:1'],
    );
  });

  test('a forbidden module fails outside tests and passes in them', () => {
    const violations = check({
      'src/protocol/socket.ts': "import { connect } from 'node:net';\nexport const c = connect;\n",
      'src/protocol/socket.test.ts': "import { connect } from 'node:net';\nexport const c = connect;\n",
    });
    assert.deepEqual(kinds(violations), ['forbidden-module src/protocol/socket.ts:1']);
  });
});

test('every source path the README and docs name exists', () => {
  const documents = [
    'README.md',
    ...readdirSync(join(repoRoot, 'docs'))
      .filter((n) => n.endsWith('.md'))
      .map((n) => `docs/${n}`),
  ];
  const missing: string[] = [];
  for (const document of documents) {
    const text = readFileSync(join(repoRoot, document), 'utf8');
    for (const [path] of text.matchAll(/src\/[A-Za-z0-9_/.-]+\.tsx?/g)) {
      if (!existsSync(join(repoRoot, path))) missing.push(`${document}: ${path}`);
    }
  }
  assert.deepEqual(missing, []);
});
