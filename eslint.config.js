// Lint with typescript-eslint's type-checked rules; tests and benches are type-checked too.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    // The CLI, tests and benchmarks talk to people on the terminal.
    files: ['src/cli/**', 'test/**', 'bench/**', 'src/**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
);
