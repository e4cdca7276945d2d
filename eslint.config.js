// Lint with typescript-eslint's type-checked rules; tests and benches are type-checked too.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Text from elsewhere is rendered by Preact as text, never parsed as HTML.
const textAsText = [
  {
    selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']",
    message: 'render text as text: no dangerouslySetInnerHTML',
  },
  {
    selector: 'MemberExpression[property.name=/^(innerHTML|outerHTML|insertAdjacentHTML)$/]',
    message: 'render text as text: no HTML from strings',
  },
];

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'web/dist/',
      'bin/',
      'scripts/*.mjs',
      'web/vite.config.mjs',
      'eslint.config.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // Fastify handlers are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
      'no-console': 'error',
    },
  },
  {
    // Tests and benchmarks talk to people on the terminal.
    files: ['test/**', 'bench/**', 'src/**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['web/**', 'src/**'],
    rules: { 'no-restricted-syntax': ['error', ...textAsText] },
  },
  {
    // The CLI prints through src/cli/io.ts alone, whose functions take only text made printable
    // (src/common/printable.ts): what a station, technician, hub or agent sent never reaches the
    // terminal as control sequences.
    files: ['src/cli/**'],
    ignores: ['src/cli/io.ts', 'src/cli/**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...textAsText,
        {
          selector:
            "MemberExpression[object.object.name='process'][object.property.name=/^(stdout|stderr)$/][property.name='write']",
          message: 'print through src/cli/io.ts (printLine, printError, printTable, printJson)',
        },
      ],
    },
  },
  {
    files: ['src/cli/io.ts'],
    rules: { 'no-console': 'off' },
  },
);
