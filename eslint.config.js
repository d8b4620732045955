// ESLint with typescript-eslint's type-aware recommended rules, over the server (src/), the
// tests, the bench, the client package, the build scripts and the demo page. `npm run lint`
// runs it with Prettier's check (formatting is Prettier's job, so no stylistic rules here) and
// knip. Each file is checked with the tsconfig.json nearest to it (projectService).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', 'node_modules/**', 'src/rpc/gen/**', 'bench/results/**'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
      parserOptions: {
        // The .js/.mjs files belong to no tsconfig: they get the default compiler options.
        projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's describe/it/test return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      // Async bodies without await implement Promise-returning ports (memory adapters, fakes), so a throw becomes a rejection.
      '@typescript-eslint/require-await': 'off',
      // Passing on a caught value (unknown) as a rejection is not making up a non-Error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // A variable read by a closure before its one assignment (set once a server it serves is up) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // The protocol code matches control bytes on purpose (Go's URL rules, sanitising remote text for the log).
      'no-control-regex': 'off',
      // A leading underscore marks a parameter kept for its signature (an interface, goim's shape).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
  {
    // The byte scanners compare raw bytes with the `const enum Ch` byte names on purpose (inlined constants, no lookups).
    files: ['src/protocol/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-enum-comparison': 'off' },
  },
  {
    // Untyped JavaScript: what a catch or an import hands over is `any`, so the no-unsafe-* family only flags that.
    files: ['**/*.js', '**/*.mjs'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['web/**', 'packages/client/src/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
