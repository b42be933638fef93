#!/usr/bin/env node
// `npm run lint`: the lint part of `npm test` only (no services needed).
import { spawnSync } from 'node:child_process';
import { ROOT } from './bootstrap.mjs';

let failed = 0;
// @nx/enforce-module-boundaries skips itself without a cached project graph (fresh clone).
spawnSync('npx', ['nx', 'show', 'projects'], {
  cwd: ROOT,
  stdio: 'ignore',
  env: { ...process.env, NX_DAEMON: 'false' },
});
for (const [cmd, ...args] of [
  ['npx', 'eslint', '--max-warnings=0', 'apps', 'libs'],
  ['npx', 'tsc', '-p', 'tsconfig.json'],
  ['npx', 'prettier', '--check', '--log-level=warn', 'apps', 'libs', 'scripts'],
]) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
