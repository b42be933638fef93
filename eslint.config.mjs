import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/**
 * Module boundaries in two dimensions (type:*, scope:*), with no `* -> *` escape hatch:
 * contracts depend on nothing of ours; utils on contracts/utils; engines on contracts/utils;
 * apps on everything but other apps; tests only reach @parley/testing from spec files.
 */
export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  prettier,
  {
    ignores: [
      '**/node_modules',
      '**/dist',
      '**/tmp',
      '**/.nx',
      'coverage',
      'test-artifacts',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
      'apps/signaling/public/**',
    ],
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
            // @parley/testing is reachable from spec files only (no-restricted-imports below) and itself
            // depends on contracts only, so allowing it here cannot create a cycle.
            {
              sourceTag: 'type:util',
              onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:testing'],
            },
            {
              sourceTag: 'type:engine',
              onlyDependOnLibsWithTags: [
                'type:contracts',
                'type:util',
                'type:engine',
                'type:testing',
              ],
            },
            { sourceTag: 'type:client', onlyDependOnLibsWithTags: ['type:contracts'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:contracts'] },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: [
                'type:contracts',
                'type:util',
                'type:engine',
                'type:client',
                'type:testing',
              ],
            },
            {
              sourceTag: 'type:e2e',
              onlyDependOnLibsWithTags: [
                'type:contracts',
                'type:util',
                'type:engine',
                'type:client',
                'type:testing',
                'type:app',
              ],
            },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            {
              sourceTag: 'scope:signaling',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:signaling', 'scope:web'],
            },
            { sourceTag: 'scope:sfu', onlyDependOnLibsWithTags: ['scope:shared', 'scope:sfu'] },
            { sourceTag: 'scope:stt', onlyDependOnLibsWithTags: ['scope:shared', 'scope:stt'] },
            { sourceTag: 'scope:tts', onlyDependOnLibsWithTags: ['scope:shared', 'scope:tts'] },
            { sourceTag: 'scope:web', onlyDependOnLibsWithTags: ['scope:shared', 'scope:web'] },
            // Cross-service tests and benchmarks exercise every scope.
            {
              sourceTag: 'scope:e2e',
              onlyDependOnLibsWithTags: [
                'scope:shared',
                'scope:signaling',
                'scope:sfu',
                'scope:stt',
                'scope:tts',
                'scope:web',
              ],
            },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'error',
    },
  },
  {
    files: ['{apps,libs}/**/*.ts'],
    ignores: [
      '**/*.spec.ts',
      '**/*.int-spec.ts',
      '**/*.e2e-spec.ts',
      'libs/testing/**',
      'apps/parley-e2e/**',
      'apps/parley-bench/**',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: '@parley/testing', message: 'test helpers are for spec files only.' },
            { name: '@parley/testing/webrtc', message: 'test helpers are for spec files only.' },
            { name: '@parley/media/testing', message: 'test helpers are for spec files only.' },
          ],
        },
      ],
    },
  },
  {
    // Later than the block above: for these files this rule replaces it, so it repeats the
    // @parley/testing restriction.
    files: ['libs/contracts/**/*.ts', 'libs/client/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.int-spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: '@parley/testing', message: 'test helpers are for spec files only.' },
            { name: '@parley/testing/webrtc', message: 'test helpers are for spec files only.' },
          ],
          patterns: [
            {
              group: ['@nestjs/*'],
              message: 'contracts and client run in the browser: no Nest here.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['scripts/**/*.ts', 'apps/*/src/main.ts'],
    rules: { 'no-console': 'off' },
  },
];
