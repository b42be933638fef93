#!/usr/bin/env node
// `npm run bench -- <name>`: bootstrap (NATS/Redis started if absent), run
// apps/parley-bench/src/<name>.bench.ts, stop what was started. The bench prints `BENCH <name> …` last.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, bootstrap } from './bootstrap.mjs';

const dir = join(ROOT, 'apps', 'parley-bench', 'src');
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''));
const [name, ...args] = process.argv.slice(2);
if (!name || !existsSync(join(dir, `${name}.bench.ts`))) {
  process.stderr.write(
    `usage: npm run bench -- <name> [args]\navailable: ${available.join(', ')}\n`,
  );
  process.exit(2);
}
const boot = await bootstrap();
const r = spawnSync(
  process.execPath,
  ['-r', '@swc-node/register', join(dir, `${name}.bench.ts`), ...args],
  {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...boot.env, NODE_ENV: 'production' },
  },
);
await boot.stop();
process.exit(r.status ?? 1);
