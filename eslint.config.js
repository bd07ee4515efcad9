import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Platform globals that the sans-I/O protocol cores must never touch. */
const platformGlobals = [
  'navigator',
  'window',
  'document',
  'Buffer',
  'process',
  'setTimeout',
  'setInterval',
  'console',
  'WebSocket',
  'fetch',
].map((name) => ({ name, message: 'Protocol cores are sans-I/O: take it as an input instead.' }));

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/.cache/**',
      '**/.svelte-kit/**',
      'test-results/**',
      'playwright-report/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    // Architecture: the VSCard package, the CCID core and the helper protocol do no I/O and
    // import nothing platform-bound.
    files: [
      'packages/vscard/src/**/*.ts',
      'packages/ccid/src/core/**/*.ts',
      'packages/helper-protocol/src/**/*.ts',
    ],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-globals': ['error', ...platformGlobals],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['node:*', 'ws', '@cardlend/*'], message: 'Core stays pure.' }] },
      ],
    },
  },
  {
    // The catalog of words for people is data plus pure functions: no I/O, no platform; it names
    // the codes of the CCID core and the VSCard package and nothing else of the project.
    files: ['packages/problems/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-globals': ['error', ...platformGlobals],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'ws', '@cardlend/*', '!@cardlend/ccid', '!@cardlend/vscard'],
              message: 'The catalog stays pure: it may name only the CCID core and VSCard codes.',
            },
          ],
        },
      ],
    },
  },
  {
    // Scripts, tests, benchmarks and the relay's entry point may print.
    files: [
      'scripts/**',
      '**/*.test.ts',
      '**/test/**',
      '**/bench/**',
      'apps/relay/src/main.ts',
      'e2e/**',
      'playwright.config.ts',
    ],
    rules: { 'no-console': 'off' },
  },
);
