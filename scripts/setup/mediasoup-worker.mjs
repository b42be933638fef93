// Setup module: provides a working mediasoup worker binary without internet.
//
// `npm install mediasoup` cannot fetch the prebuilt worker nor the meson subprojects here, so we
// build `node_modules/mediasoup/worker` against Debian's system libraries (see
// ./mediasoup/patch-worker.mjs for the source fixes), cache the binary outside the clone keyed by
// mediasoup version, architecture and distribution, and copy it to mediasoup's default lookup path.
// Node builtins only: this runs right after `npm ci`.
//
// Standalone: `node scripts/setup/mediasoup-worker.mjs` (honours PARLEY_CACHE_DIR).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { cpus, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { patchWorkerSource } from './mediasoup/patch-worker.mjs';

/** Debian packages needed to build the worker (the -dev packages pull the runtime libraries). */
export const aptPackages = [
  'build-essential',
  'python3',
  'meson',
  'ninja-build',
  'pkg-config',
  'libssl-dev',
  'libuv1-dev',
  'libsrtp2-dev',
  'libusrsctp-dev',
  'libabsl-dev',
  'libflatbuffers-dev',
  'flatbuffers-compiler',
];

/** mediasoup's own sanity check: a worker started without its channel env exits with 41. */
const BARE_EXIT_CODE = 41;

async function distroId() {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    const field = (k) => text.match(new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm'))?.[1] ?? '';
    return `${field('ID') || 'linux'}${field('VERSION_ID')}`.replace(/[^A-Za-z0-9._-]/g, '_');
  } catch {
    return process.platform;
  }
}

/** Runs the binary bare and checks mediasoup's expected exit code. */
function verifyBinary(bin) {
  const r = spawnSync(bin, [], { stdio: 'pipe', timeout: 10_000, env: { PATH: process.env.PATH } });
  if (r.error) return { ok: false, why: r.error.message };
  if (r.status !== BARE_EXIT_CODE) {
    const stderr = String(r.stderr ?? '')
      .trim()
      .split('\n')
      .slice(-3)
      .join(' | ');
    return {
      ok: false,
      why: `exit code ${r.status ?? r.signal}, expected ${BARE_EXIT_CODE}; ${stderr}`,
    };
  }
  return { ok: true };
}

/** Copies via a temp file + rename so a running worker never sees a half-written binary. */
async function installCopy(from, to) {
  if (existsSync(to)) {
    const [a, b] = await Promise.all([stat(from), stat(to)]);
    if (a.size === b.size && (await readFile(from)).equals(await readFile(to))) return false;
  }
  await mkdir(dirname(to), { recursive: true });
  const tmp = `${to}.tmp-${process.pid}`;
  await copyFile(from, tmp);
  await chmod(tmp, 0o755);
  await rename(tmp, to);
  return true;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** A directory lock so two concurrent `ensure` calls do not build twice into the same dir. */
async function withLock(lockDir, log, fn) {
  const started = Date.now();
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => '0'));
      if (pid && !isAlive(pid)) {
        log(`mediasoup-worker: removing stale build lock of dead pid ${pid}`);
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > 30 * 60_000) throw new Error(`timed out waiting for ${lockDir}`);
      if ((Date.now() - started) % 30_000 < 2_000) {
        log(`mediasoup-worker: another process (pid ${pid || '?'}) is building, waiting...`);
      }
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/** Spawns a command, streaming a throttled progress view of its output into `log`. */
function run(cmd, args, { cwd, log, label }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = [];
    let lastLog = 0;
    const onLine = (line) => {
      tail.push(line);
      if (tail.length > 60) tail.shift();
      const step = line.match(/^\[(\d+)\/(\d+)\]/);
      const now = Date.now();
      if (step) {
        const [done, total] = [Number(step[1]), Number(step[2])];
        if (now - lastLog > 15_000 || done === total) {
          lastLog = now;
          log(
            `mediasoup-worker: ${label} ${done}/${total} (${Math.round((100 * done) / total)} %)`,
          );
        }
      } else if (
        /error|warning: .*deprecated|Found|Dependency/i.test(line) &&
        label === 'meson setup'
      ) {
        log(`mediasoup-worker:   ${line}`);
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        lines.forEach(onLine);
      });
    }
    child.on('error', (e) => reject(new Error(`${label}: cannot start ${cmd}: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${label} failed (exit ${code}). Last output:\n${tail.join('\n')}`));
    });
  });
}

function requireTools() {
  const missing = ['meson', 'ninja', 'pkg-config', 'flatc', 'c++'].filter(
    (t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0,
  );
  if (missing.length) {
    throw new Error(
      `mediasoup-worker: missing build tools: ${missing.join(', ')}. Install: ` +
        `apt-get install -y ${aptPackages.join(' ')}`,
    );
  }
  const pcs = ['openssl', 'libuv', 'libsrtp2', 'usrsctp', 'flatbuffers', 'absl_flat_hash_map'];
  const absent = pcs.filter((p) => spawnSync('pkg-config', ['--exists', p]).status !== 0);
  if (absent.length) {
    throw new Error(
      `mediasoup-worker: pkg-config cannot find ${absent.join(', ')}. Install: ` +
        `apt-get install -y ${aptPackages.join(' ')}`,
    );
  }
}

/**
 * Ensures `node_modules/mediasoup/worker/out/Release/mediasoup-worker` exists and works; builds it
 * into the cache on first use. Returns `{ env: { MEDIASOUP_WORKER_BIN } }` pointing at the cache.
 */
export async function ensure(ctx) {
  const { root, cacheDir, log } = ctx;
  const pkgDir = join(root, 'node_modules', 'mediasoup');
  const pkgJson = join(pkgDir, 'package.json');
  if (!existsSync(pkgJson)) {
    throw new Error(`mediasoup-worker: ${pkgJson} not found; run npm ci first`);
  }
  const version = JSON.parse(await readFile(pkgJson, 'utf8')).version;
  const key = `${version}-${process.arch}-${await distroId()}`;
  const cacheRoot = join(cacheDir, 'mediasoup-worker');
  const cachedBin = join(cacheRoot, key, 'mediasoup-worker');
  const defaultBin = join(pkgDir, 'worker', 'out', 'Release', 'mediasoup-worker');

  const finish = async () => {
    const copied = await installCopy(cachedBin, defaultBin);
    log(`mediasoup-worker: ${copied ? 'installed' : 'up to date'} ${defaultBin}`);
    return { env: { MEDIASOUP_WORKER_BIN: cachedBin } };
  };

  if (existsSync(cachedBin)) {
    const v = verifyBinary(cachedBin);
    if (v.ok) {
      log(`mediasoup-worker: cached ${key} (${cachedBin})`);
      return finish();
    }
    log(`mediasoup-worker: cached binary failed verification (${v.why}); rebuilding`);
  }

  await mkdir(cacheRoot, { recursive: true });
  return withLock(join(cacheRoot, `${key}.lock`), log, async () => {
    // Another process may have finished the build while we waited for the lock.
    if (existsSync(cachedBin) && verifyBinary(cachedBin).ok) return finish();

    requireTools();
    const t0 = Date.now();
    const buildRoot = join(cacheRoot, `build-${key}`);
    const src = join(buildRoot, 'worker');
    const out = join(buildRoot, 'out');
    log(`mediasoup-worker: building mediasoup ${version} worker in ${buildRoot}`);
    // A fresh copy every time: patches are not idempotent and the upstream tree must stay pristine.
    await rm(buildRoot, { recursive: true, force: true });
    await mkdir(buildRoot, { recursive: true });
    const upstreamOut = join(pkgDir, 'worker', 'out');
    await cp(join(pkgDir, 'worker'), src, {
      recursive: true,
      filter: (p) => p !== upstreamOut && !p.startsWith(`${upstreamOut}/`),
    });
    await patchWorkerSource(src);
    log(
      'mediasoup-worker: patched sources for Debian libraries (meson.build, libsrtp 2.5, DTLS BIO)',
    );

    await run(
      'meson',
      [
        'setup',
        '--buildtype',
        'release',
        '-Db_ndebug=true',
        '-Dms_disable_liburing=true',
        '--wrap-mode=nodownload',
        out,
        src,
      ],
      { cwd: buildRoot, log, label: 'meson setup' },
    );
    const jobs = String(Math.max(1, cpus().length));
    log(`mediasoup-worker: compiling with ninja -j${jobs} (about 8 min on 2 cores)`);
    await run('ninja', ['-C', out, '-j', jobs, 'mediasoup-worker'], {
      cwd: buildRoot,
      log,
      label: 'ninja',
    });

    const built = join(out, 'mediasoup-worker');
    const v = verifyBinary(built);
    if (!v.ok) throw new Error(`mediasoup-worker: built binary failed verification: ${v.why}`);
    await mkdir(dirname(cachedBin), { recursive: true });
    await installCopy(built, cachedBin);
    await rm(buildRoot, { recursive: true, force: true });
    log(
      `mediasoup-worker: built and cached in ${Math.round((Date.now() - t0) / 1000)} s: ${cachedBin}`,
    );
    return finish();
  });
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cacheDir = process.env.PARLEY_CACHE_DIR || join(homedir(), '.cache', 'parley');
  const ctx = {
    root,
    cacheDir,
    log: (msg) => console.log(msg),
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
  };
  ensure(ctx).then(
    (res) => console.log(JSON.stringify(res, null, 2)),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
