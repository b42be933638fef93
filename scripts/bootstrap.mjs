#!/usr/bin/env node
// One idempotent set-up for `npm start`, `npm test` and `npm run bench`: Debian packages (when root
// and missing), `npm ci` (when the lock changed), native builds and fixtures (scripts/setup/*.mjs,
// cached outside the clone), and NATS + Redis (started only when none answers; stopped on exit).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BASE_APT = [
  'nats-server',
  'redis-server',
  'python3',
  'make',
  'g++',
  'ffmpeg',
  'espeak-ng',
  'sox',
];
// Only for tests: the headless browser of the demo page's end-to-end test (playwright-core drives
// it; no download). Image builds skip it with PARLEY_NO_TEST_PACKAGES=1.
const TEST_APT = process.env.PARLEY_NO_TEST_PACKAGES === '1' ? [] : ['chromium'];
// Order matters: native engines before fixtures that may use them.
const SETUP_ORDER = ['mediasoup-worker', 'whisper', 'whisper-fixture', 'piper-fixture'];

const t0 = Date.now();
export function log(msg) {
  process.stdout.write(`[bootstrap +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...opts });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status ?? r.signal}`);
}

function isInstalled(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

async function setupModules() {
  const dir = join(ROOT, 'scripts', 'setup');
  const names = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.mjs'))
        .map((f) => f.slice(0, -4))
    : [];
  names.sort(
    (a, b) =>
      (SETUP_ORDER.indexOf(a) + 1 || 99) - (SETUP_ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b),
  );
  const mods = [];
  for (const name of names)
    mods.push({ name, mod: await import(pathToFileURL(join(dir, `${name}.mjs`)).href) });
  return mods;
}

function ensureApt(packages) {
  const missing = [...new Set(packages)].filter((p) => !isInstalled(p));
  if (missing.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    log(
      `missing Debian packages: ${missing.join(' ')} — run: sudo apt-get install -y ${missing.join(' ')}`,
    );
    return;
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  run('apt-get', ['update', '-qq'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function ensureNpm() {
  const lock = readFileSync(join(ROOT, 'package-lock.json'));
  const sha = createHash('sha256').update(lock).update(process.version).digest('hex');
  const stamp = join(ROOT, 'node_modules', '.parley-lock-sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === sha) return;
  log('npm ci (dependency install scripts stay blocked; native parts are built by scripts/setup)');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  writeFileSync(stamp, sha);
}

function probe(host, port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function waitFor(host, port, what, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe(host, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start listening on ${host}:${port}`);
}

function hostPort(url, defPort) {
  const u = new URL(url.split(',')[0]);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defPort) };
}

const LOCAL = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Starts nats-server / redis-server when nothing answers on the configured URLs. */
async function ensureServices(env, started) {
  const nats = hostPort(env.NATS_URL ?? 'nats://127.0.0.1:4222', 4222);
  if (!(await probe(nats.host, nats.port))) {
    if (!LOCAL.has(nats.host)) throw new Error(`NATS at ${nats.host}:${nats.port} does not answer`);
    const dir = join(ROOT, '.parley', 'data', 'nats');
    mkdirSync(dir, { recursive: true });
    log(`starting nats-server -js on ${nats.port} (store ${dir})`);
    const p = spawn(
      'nats-server',
      ['-a', '127.0.0.1', '-p', String(nats.port), '-js', '-sd', dir],
      { stdio: 'ignore' },
    );
    started.push({ name: 'nats-server', proc: p });
    await waitFor('127.0.0.1', nats.port, 'nats-server');
  } else log(`NATS answers on ${nats.host}:${nats.port}`);
  const redis = hostPort(env.REDIS_URL ?? 'redis://127.0.0.1:6379', 6379);
  if (!(await probe(redis.host, redis.port))) {
    if (!LOCAL.has(redis.host))
      throw new Error(`Redis at ${redis.host}:${redis.port} does not answer`);
    const dir = join(ROOT, '.parley', 'data', 'redis');
    mkdirSync(dir, { recursive: true });
    log(`starting redis-server on ${redis.port} (append-only file in ${dir})`);
    const p = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(redis.port),
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--save',
        '',
      ],
      { stdio: 'ignore' },
    );
    started.push({ name: 'redis-server', proc: p });
    await waitFor('127.0.0.1', redis.port, 'redis-server');
  } else log(`Redis answers on ${redis.host}:${redis.port}`);
}

/**
 * Two set-ups at once in one clone (say `npm test` and `npm run bench`) would run `npm ci` or a
 * native build twice over each other: the second waits for the first (a lock directory holding
 * the owner's pid; a lock left by a dead process is taken over).
 */
async function withSetupLock(fn) {
  const dir = join(ROOT, '.parley', 'setup.lock');
  mkdirSync(join(ROOT, '.parley'), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      break;
    } catch {
      let alive = true;
      try {
        const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
        if (!(pid > 0)) throw Object.assign(new Error('no pid yet'), { code: 'ENOENT' });
        process.kill(pid, 0);
      } catch (err) {
        // ESRCH: the owner is gone. No pid yet: being written, unless it has been for long.
        let young = false;
        try {
          young = Date.now() - statSync(dir).mtimeMs < 10_000;
        } catch {
          /* removed meanwhile */
        }
        alive = err.code === 'ENOENT' ? young : err.code === 'EPERM';
      }
      if (!alive) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (!announced) log('waiting for the set-up of another process in this clone…');
      announced = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the whole set-up. Returns the env to pass to services and tests, and `stop()` which stops
 * only what this run started.
 */
export async function bootstrap({ services = true } = {}) {
  const env = await withSetupLock(setup);
  const started = [];
  if (services) await ensureServices({ ...process.env, ...env }, started);
  const stop = async () => {
    for (const { name, proc } of started.reverse()) {
      if (proc.exitCode !== null) continue;
      log(`stopping ${name}`);
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  };
  return { env: { ...env }, started, stop };
}

/** Everything but the services: system packages, `npm ci`, native builds, fixtures. */
async function setup() {
  const mods = await setupModules();
  ensureApt([...BASE_APT, ...TEST_APT, ...mods.flatMap(({ mod }) => mod.aptPackages ?? [])]);
  ensureNpm();
  const cacheDir = process.env.PARLEY_CACHE_DIR ?? join(homedir(), '.cache', 'parley');
  mkdirSync(cacheDir, { recursive: true });
  mkdirSync(join(ROOT, '.parley'), { recursive: true });
  const env = {};
  // PARLEY_SKIP_SETUP=name,name (or `all`) skips setup steps, e.g. while a build is under way elsewhere.
  const skip = new Set((process.env.PARLEY_SKIP_SETUP ?? '').split(',').filter(Boolean));
  for (const { name, mod } of mods) {
    if (typeof mod.ensure !== 'function') continue;
    if (skip.has(name) || skip.has('all')) {
      log(`setup ${name} skipped (PARLEY_SKIP_SETUP)`);
      continue;
    }
    const started = Date.now();
    log(`setup ${name}…`);
    const out = await mod.ensure({
      root: ROOT,
      cacheDir,
      isRoot: process.getuid?.() === 0,
      log: (m) => log(`${name}: ${m}`),
    });
    Object.assign(env, out?.env ?? {});
    log(`setup ${name} done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }
  writeFileSync(join(ROOT, '.parley', 'env.json'), `${JSON.stringify(env, null, 2)}\n`);
  return env;
}

/** Version string of a command, for logs. */
export function versionOf(cmd, args = ['--version']) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return 'absent';
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  bootstrap({ services: false })
    .then(({ env }) => log(`ready; env: ${JSON.stringify(env)}`))
    .catch((err) => {
      process.stderr.write(`bootstrap failed: ${err.message}\n`);
      process.exit(1);
    });
}
