#!/usr/bin/env node
// `npm test`: bootstrap, then lint (eslint with module boundaries, tsc, prettier), unit,
// integration and end-to-end suites against real NATS and Redis. Ends with `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, bootstrap, log } from './bootstrap.mjs';

const only = process.argv.slice(2); // e.g. `npm test -- unit int`
const want = (k) => only.length === 0 || only.includes(k);
const results = [];

function step(name, cmd, args, env) {
  log(`▶ ${name}: ${cmd} ${args.join(' ')}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  return { code: r.status ?? 1, seconds: (Date.now() - started) / 1000 };
}

function jestSuite(kind, env) {
  const out = join(ROOT, 'tmp', `jest-${kind}.json`);
  rmSync(out, { force: true });
  const r = step(
    `${kind} tests`,
    'npx',
    ['jest', '--config', 'jest.config.ts', '--json', `--outputFile=${out}`, '--passWithNoTests'],
    { ...env, PARLEY_TEST_KIND: kind },
  );
  if (!existsSync(out)) {
    results.push({
      name: `${kind} tests`,
      passed: 0,
      failed: 1,
      seconds: r.seconds,
      note: 'jest produced no report',
    });
    return;
  }
  const j = JSON.parse(readFileSync(out, 'utf8'));
  // A suite that fails to load counts as a failure even though it ran no test.
  const broken = j.testResults.filter(
    (s) => s.status === 'failed' && s.assertionResults.length === 0,
  ).length;
  results.push({
    name: `${kind} tests`,
    passed: j.numPassedTests,
    failed: j.numFailedTests + broken,
    skipped: j.numPendingTests,
    seconds: r.seconds,
  });
}

let services;
let exitCode = 0;
try {
  mkdirSync(join(ROOT, 'tmp'), { recursive: true });
  services = await bootstrap();
  const env = { ...services.env, CI: process.env.CI ?? '', FORCE_COLOR: '0' };
  if (want('lint')) {
    // @nx/enforce-module-boundaries reads the cached project graph and silently skips itself
    // without one (a fresh clone): compute it first.
    step('nx project graph', 'npx', ['nx', 'show', 'projects'], {
      ...env,
      NX_DAEMON: 'false',
      NX_NO_CLOUD: 'true',
    });
    for (const [name, cmd, args] of [
      ['eslint (module boundaries)', 'npx', ['eslint', '--max-warnings=0', 'apps', 'libs']],
      ['typecheck', 'npx', ['tsc', '-p', 'tsconfig.json']],
      ['prettier', 'npx', ['prettier', '--check', '--log-level=warn', 'apps', 'libs', 'scripts']],
    ]) {
      const r = step(name, cmd, args, env);
      results.push({
        name,
        passed: r.code === 0 ? 1 : 0,
        failed: r.code === 0 ? 0 : 1,
        seconds: r.seconds,
      });
    }
  }
  for (const kind of ['unit', 'int', 'e2e']) if (want(kind)) jestSuite(kind, env);
} catch (err) {
  process.stderr.write(`npm test: ${err.stack ?? err}\n`);
  results.push({ name: 'set-up', passed: 0, failed: 1, seconds: 0 });
} finally {
  await services?.stop();
}

const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0);
const skipped = results.reduce((a, r) => a + (r.skipped ?? 0), 0);
process.stdout.write('\n');
for (const r of results) {
  process.stdout.write(
    `${r.failed ? '✗' : '✓'} ${r.name.padEnd(28)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed${r.skipped ? ` ${r.skipped} skipped` : ''}  ${r.seconds.toFixed(1)}s${r.note ? `  (${r.note})` : ''}\n`,
  );
}
if (failed > 0 || results.length === 0) exitCode = 1;
// The last line is exactly `N passed, N failed` (CI reads it); skipped tests are said just above.
if (skipped) process.stdout.write(`${skipped} skipped (see the lines above)\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(exitCode);
