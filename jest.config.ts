import type { Config } from 'jest';
import { readFileSync } from 'node:fs';

/**
 * One jest config for the whole workspace. The kind of suite is chosen with PARLEY_TEST_KIND:
 * `unit` (`*.spec.ts`, no I/O), `int` (`*.int-spec.ts`, real NATS/Redis on loopback) or `e2e`
 * (`apps/*-e2e`, across services). `scripts/test.mjs` runs the three in that order.
 */
const kind = process.env['PARLEY_TEST_KIND'] ?? 'unit';
const patterns: Record<string, string[]> = {
  unit: ['<rootDir>/{apps,libs}/**/*.spec.ts'],
  int: ['<rootDir>/{apps,libs}/**/*.int-spec.ts'],
  e2e: ['<rootDir>/apps/*-e2e/**/*.e2e-spec.ts'],
  all: [
    '<rootDir>/{apps,libs}/**/*.spec.ts',
    '<rootDir>/{apps,libs}/**/*.int-spec.ts',
    '<rootDir>/apps/*-e2e/**/*.e2e-spec.ts',
  ],
};

const tsconfig = JSON.parse(readFileSync(`${__dirname}/tsconfig.base.json`, 'utf8')) as {
  compilerOptions: { paths: Record<string, string[]> };
};
const moduleNameMapper: Record<string, string> = {};
for (const [alias, [target]] of Object.entries(tsconfig.compilerOptions.paths)) {
  moduleNameMapper[`^${alias.replace('/', '\\/')}$`] = `<rootDir>/${target.replace(/^\.\//, '')}`;
}

const config: Config = {
  rootDir: __dirname,
  testEnvironment: 'node',
  testMatch: patterns[kind] ?? patterns['unit'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/dist/', '<rootDir>/tmp/'],
  transform: {
    // jose 6 is ESM-only: jest (CommonJS, Node 20) transforms it like our TypeScript.
    '^.+\\.(ts|js)$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  moduleNameMapper,
  testTimeout: kind === 'unit' ? 10_000 : 120_000,
  maxWorkers: kind === 'unit' ? '50%' : 1,
  setupFiles: ['reflect-metadata'],
  testEnvironmentOptions: { globalsCleanup: 'off' },
};

export default config;
