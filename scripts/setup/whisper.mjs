#!/usr/bin/env node
/**
 * Setup step: build the whisper.cpp engine (smart-whisper 0.8.1's N-API addon) natively for the
 * CPU it will run on.
 *
 * Why: smart-whisper's npm build compiles ggml without `-march=native`, which on this class of
 * machine is 4-8x slower than the same code with AVX2/AVX-512 enabled. We therefore rebuild the
 * addon with node-gyp from a copy of the package under the cache directory, keyed by
 * smart-whisper version + arch + distro + compiler + a hash of the CPU flags, so a machine with a
 * different CPU rebuilds instead of crashing with SIGILL.
 *
 * The copy is patched (see PATCHES) before building:
 *   - the model loader passed an uninitialised `whisper_context_params` (only `use_gpu` was set);
 *     we start from `whisper_context_default_params()` so DTW/flash-attn flags are not garbage;
 *   - a failed load called `whisper_print_timings(nullptr)` and crashed the process; guarded —
 *     and its promise never settled (PromiseWorker had no OnError); it now rejects;
 *   - `transcribe` accepts `abort_flag` (an Int32Array): a non-zero element 0 aborts whisper_full
 *     through whisper.cpp's abort_callback (checked between graph nodes and decode steps), so a
 *     cancelled or pre-empted transcription stops within milliseconds instead of running on;
 *   - `setLogging(bool)` turns whisper.cpp's stderr logging off/on at run time (upstream only
 *     decides once, from NODE_ENV, when the addon loads).
 *
 * Output: the built `.node` is cached at `${cacheDir}/whisper/<key>/smart-whisper.node`, copied to
 * `node_modules/smart-whisper/build/Release/smart-whisper.node` (where smart-whisper's dist/ loader
 * requires it from) and returned as `PARLEY_WHISPER_ADDON` (read first by `@parley/stt-engine`).
 *
 * Node builtins only: this runs right after `npm ci`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Debian packages node-gyp needs to compile the addon. */
export const aptPackages = ['g++', 'make', 'python3'];

/** Bump when the build recipe or the patches change, so caches are rebuilt. */
const RECIPE_VERSION = 4;

/**
 * Compiler flags: tune for this CPU (the cache key contains its flags). NDEBUG as in whisper.cpp's
 * own release builds (without it ggml-alloc prints debug lines to stderr on every graph).
 */
const NATIVE_FLAGS = ['-O3', '-march=native', '-mtune=native', '-DNDEBUG'];

/**
 * Source patches applied to the copy before building. Each `from` must occur exactly once so an
 * upstream change fails loudly instead of building something unpatched.
 */
const PATCHES = [
  {
    file: 'src/binding/model.cc',
    from: `    whisper_context_params params;\n    params.use_gpu`,
    to: `    whisper_context_params params = whisper_context_default_params();\n    params.use_gpu`,
  },
  {
    file: 'src/binding/model.cc',
    from: `            SetError("Failed to initialize whisper context");\n        }\n        whisper_print_timings(context);`,
    to: `            SetError("Failed to initialize whisper context");\n            return;\n        }\n        whisper_print_timings(context);`,
  },
  {
    // A failed load (missing or corrupt file) called SetError, but PromiseWorker never rejected its
    // promise, so `WhisperModel.load()` hung forever.
    file: 'src/binding/common.h',
    from: `    Napi::Promise Promise();\n`,
    to: `    Napi::Promise Promise();\n    void OnError(const Napi::Error &e) override { promise.Reject(e.Value()); }\n`,
  },
  {
    file: 'src/binding/transcribe.cc',
    from: `   private:\n    whisper_context*                       context;`,
    to: `   public:\n    // Keeps the JS abort flag (read by abort_callback on the worker thread) alive.\n    Napi::ObjectReference abort_ref;\n\n   private:\n    whisper_context*                       context;`,
  },
  {
    file: 'src/binding/transcribe.cc',
    from: `    auto worker = new TranscribeWorker(context, samples, n_samples, whisper_params, smart_params,\n                                       finish_callback, progress_callback);\n`,
    to: `    Napi::Object abort_obj;\n    if (params.Has("abort_flag") && params.Get("abort_flag").IsTypedArray()) {\n        Napi::TypedArray flag = params.Get("abort_flag").As<Napi::TypedArray>();\n        if (flag.TypedArrayType() == napi_int32_array && flag.ElementLength() >= 1) {\n            whisper_params.abort_callback = [](void* data) -> bool {\n                return __atomic_load_n(static_cast<int32_t*>(data), __ATOMIC_SEQ_CST) != 0;\n            };\n            whisper_params.abort_callback_user_data = flag.As<Napi::Int32Array>().Data();\n            abort_obj = flag.As<Napi::Object>();\n        }\n    }\n\n    auto worker = new TranscribeWorker(context, samples, n_samples, whisper_params, smart_params,\n                                       finish_callback, progress_callback);\n    if (!abort_obj.IsEmpty()) {\n        worker->abort_ref = Napi::Persistent(abort_obj);\n    }\n`,
  },
  {
    file: 'src/binding/binding.cc',
    from: `    WhisperModel::Init(env, exports);\n`,
    to: `    WhisperModel::Init(env, exports);\n    exports.Set("setLogging", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {\n        bool on = info.Length() > 0 && info[0].ToBoolean().Value();\n        if (on) {\n            whisper_log_set(nullptr, nullptr);\n        } else {\n            whisper_log_set([](ggml_log_level, const char*, void*) {}, nullptr);\n        }\n        return info.Env().Undefined();\n    }));\n`,
  },
  {
    // Compile everything (ggml included) for this CPU: AVX2/AVX-512/F16C/FMA code paths in ggml
    // are chosen at compile time from these flags.
    file: 'binding.gyp',
    from: `'cflags!': [ '-fno-exceptions' ],`,
    to: `'cflags!': [ '-fno-exceptions' ],\n      'cflags': ${JSON.stringify(NATIVE_FLAGS)},\n      'cflags_cc': ${JSON.stringify(NATIVE_FLAGS)},`,
  },
];

/** @param {string} file */
function sha256File(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** CPU feature flags (sorted) — what `-march=native` compiles for. */
function cpuFlags() {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = info.split('\n').find((l) => /^(flags|Features)\s*:/.test(l)) ?? '';
    return line.split(':')[1]?.trim().split(/\s+/).sort().join(' ') ?? '';
  } catch {
    return '';
  }
}

function compilerVersion() {
  const r = spawnSync('c++', ['-dumpfullversion', '-dumpversion'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function distro() {
  try {
    const os = readFileSync('/etc/os-release', 'utf8');
    const get = (k) => os.match(new RegExp(`^${k}="?([^"\\n]*)"?`, 'm'))?.[1] ?? '';
    return `${get('ID')}${get('VERSION_ID')}`;
  } catch {
    return process.platform;
  }
}

/** Finds node-gyp: a local install first, then the copy bundled with npm. */
function findNodeGyp(root) {
  const candidates = [
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error(
      `whisper: node-gyp not found (looked in ${candidates.join(', ')}); install npm's node-gyp`,
    );
  }
  return found;
}

/** Node headers for an offline build: the distro's /usr/include/node, else node-gyp's cache. */
function findNodeDir() {
  const prefix = resolve(dirname(process.execPath), '..');
  for (const dir of [prefix, '/usr', '/usr/local']) {
    if (existsSync(join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return undefined;
}

function run(cmd, args, opts, logFile) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (d) => chunks.push(d));
    child.stderr.on('data', (d) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const out = Buffer.concat(chunks).toString('utf8');
      if (logFile) writeFileSync(logFile, out);
      if (code === 0) resolvePromise(out);
      else {
        const tail = out.split('\n').slice(-40).join('\n');
        reject(
          new Error(
            `${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}); ` +
              `log: ${logFile ?? '-'}\n${tail}`,
          ),
        );
      }
    });
  });
}

/** Loads the addon in a child process so a SIGILL (wrong CPU) cannot kill the caller. */
function verifyLoads(addonPath) {
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `const m = require(${JSON.stringify(addonPath)}); if (typeof m.transcribe !== 'function') process.exit(3);`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    throw new Error(
      `whisper: built addon ${addonPath} does not load (${r.signal ?? `exit ${r.status}`}): ${r.stderr.trim()}`,
    );
  }
}

/**
 * Ensures a native build of the whisper addon exists and is installed.
 * @param {{ root: string, cacheDir: string, log: (msg: string) => void, isRoot?: boolean }} ctx
 */
export async function ensure(ctx) {
  const { root, cacheDir, log } = ctx;
  const requireFromRoot = createRequire(join(root, 'package.json'));
  let pkgJson;
  try {
    pkgJson = requireFromRoot.resolve('smart-whisper/package.json');
  } catch {
    throw new Error('whisper: smart-whisper is not installed; run `npm ci` first');
  }
  const pkgDir = dirname(pkgJson);
  const version = JSON.parse(readFileSync(pkgJson, 'utf8')).version;
  const addonApiDir = dirname(createRequire(pkgJson).resolve('node-addon-api/package.json'));

  const flags = cpuFlags();
  const keyMaterial = [
    `recipe=${RECIPE_VERSION}`,
    `smart-whisper=${version}`,
    `arch=${process.arch}`,
    `platform=${process.platform}`,
    `distro=${distro()}`,
    `cxx=${compilerVersion()}`,
    `napi=${process.versions.napi}`,
    `flags=${flags}`,
  ].join('\n');
  const hash = createHash('sha256').update(keyMaterial).digest('hex').slice(0, 12);
  const key = `smart-whisper-${version}-${process.arch}-${distro()}-${hash}`;
  const keyDir = join(cacheDir, 'whisper', key);
  const cached = join(keyDir, 'smart-whisper.node');
  const installed = join(pkgDir, 'build', 'Release', 'smart-whisper.node');

  if (existsSync(cached)) {
    log(`whisper: cache hit ${cached}`);
  } else {
    const t0 = Date.now();
    log(
      `whisper: building smart-whisper ${version} natively (${NATIVE_FLAGS.join(' ')}), key ${key}`,
    );
    mkdirSync(keyDir, { recursive: true });
    const work = join(cacheDir, 'whisper', `build-${hash}-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    cpSync(pkgDir, work, {
      recursive: true,
      filter: (src) => !/[/\\](build|node_modules)$/.test(src),
    });
    // binding.gyp resolves node-addon-api with `node -p require(...)` from the copy's directory.
    // A real copy, not a symlink: gyp places the objects of node-addon-api's `nothing` target by
    // relative path, which for a symlink would land outside the build directory.
    cpSync(addonApiDir, join(work, 'node_modules', 'node-addon-api'), { recursive: true });
    for (const p of PATCHES) {
      const file = join(work, p.file);
      const src = readFileSync(file, 'utf8');
      const n = src.split(p.from).length - 1;
      if (n !== 1) {
        throw new Error(
          `whisper: patch for ${p.file} matched ${n} times (expected 1); recipe outdated`,
        );
      }
      writeFileSync(file, src.replace(p.from, p.to));
    }
    const nodeGyp = findNodeGyp(root);
    const nodeDir = findNodeDir();
    const args = [nodeGyp, 'rebuild', `-j`, String(Math.max(1, cpus().length))];
    if (nodeDir) args.push(`--nodedir=${nodeDir}`);
    else log('whisper: no local Node headers found; node-gyp will try to download them');
    const logFile = join(keyDir, 'build.log');
    await run(
      process.execPath,
      args,
      {
        cwd: work,
        // COMPUTE_BACKEND=cpu: smart-whisper's build.js would otherwise probe `ldconfig` for
        // OpenBLAS, making the build depend on unrelated machine state.
        env: { ...process.env, COMPUTE_BACKEND: 'cpu', npm_config_nodedir: nodeDir ?? '' },
      },
      logFile,
    );
    const built = join(work, 'build', 'Release', 'smart-whisper.node');
    if (!existsSync(built)) throw new Error(`whisper: build produced no ${built}; log: ${logFile}`);
    verifyLoads(built);
    const tmp = `${cached}.tmp-${process.pid}`;
    copyFileSync(built, tmp);
    renameSync(tmp, cached);
    writeFileSync(join(keyDir, 'key.txt'), `${keyMaterial}\n`);
    rmSync(work, { recursive: true, force: true });
    log(`whisper: built in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${cached}`);
  }

  // Install where smart-whisper's dist/ loader requires it from (build/Release/smart-whisper).
  const needsCopy =
    !existsSync(installed) ||
    statSync(installed).size !== statSync(cached).size ||
    sha256File(installed) !== sha256File(cached);
  if (needsCopy) {
    mkdirSync(dirname(installed), { recursive: true });
    const tmp = `${installed}.tmp-${process.pid}`;
    copyFileSync(cached, tmp);
    renameSync(tmp, installed);
    log(`whisper: installed ${installed}`);
  }
  return { env: { PARLEY_WHISPER_ADDON: cached } };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = resolve(here, '..', '..');
  const cacheDir = process.env.PARLEY_CACHE_DIR || join(homedir(), '.cache', 'parley');
  const t0 = Date.now();
  ensure({
    root,
    cacheDir,
    log: (msg) => console.log(msg),
    isRoot: process.getuid?.() === 0,
  }).then(
    (res) => {
      console.log(`whisper: ready in ${Date.now() - t0} ms`);
      console.log(JSON.stringify(res.env, null, 2));
    },
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
