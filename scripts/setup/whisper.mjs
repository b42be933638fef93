#!/usr/bin/env node
/**
 * Setup step: build the whisper.cpp engine (smart-whisper 0.8.1's N-API addon) natively for the
 * CPU it will run on.
 *
 * Why: smart-whisper's npm build compiles ggml without `-march=native`, which on this class of
 * machine is 4-8x slower than the same code with AVX2/AVX-512 enabled. We therefore rebuild the
 * addon with node-gyp from a copy of the package under the cache directory, keyed by
 * smart-whisper version + arch + distro + compiler + a hash of the CPU flags (so a machine with a
 * different CPU rebuilds instead of crashing with SIGILL) + a hash of the patches and flags below
 * (so changing a patch rebuilds everywhere).
 *
 * The copy is patched (see PATCHES) before building:
 *   - the model loader passed an uninitialised `whisper_context_params` (only `use_gpu` was set);
 *     we start from `whisper_context_default_params()` so DTW/flash-attn flags are not garbage;
 *   - a failed load called `whisper_print_timings(nullptr)` and crashed the process; guarded —
 *     and its promise never settled (PromiseWorker had no OnError); it now rejects;
 *   - `transcribe` accepts `abort_flag` (an Int32Array): a non-zero element 0 aborts whisper_full
 *     through whisper.cpp's abort_callback, so a cancelled or pre-empted transcription stops within
 *     milliseconds instead of running on. Upstream (this whisper.cpp) only polls the callback after
 *     the whole encoder and after each decoder step: its graph helper for the backend scheduler
 *     never hands the callback to ggml. We pass it to the CPU backend
 *     (`ggml_backend_cpu_set_abort_callback`), where ggml polls it after every graph node, so the
 *     encoder of a 30 s window stops within about a millisecond too. ggml's abort path raced with
 *     more than one thread (a thread could skip the barrier thread 0 waits at: a hung call); fixed
 *     as upstream ggml later did;
 *   - ggml's per-node barrier spins; after a short spin it now yields the core, so more threads
 *     than free cores slow a call down instead of stalling it for whole time slices;
 *   - whisper states are pooled per context: upstream created and freed a `whisper_state` (KV
 *     caches, compute buffers sized for 30 s, four graph plans) on every call, which cost more than
 *     encoding a short clip; a call now takes an idle state and returns it;
 *   - each result carries `timings` (state set-up, mel, encoder, decoder, sampling; ms), so callers
 *     can see where the time of a call goes;
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

/**
 * Bump when the build recipe changes. The patches and flags themselves are hashed into the cache
 * key too (see `recipeHash`), so editing one rebuilds without a bump.
 */
const RECIPE_VERSION = 5;

/**
 * Compiler flags: tune for this CPU (the cache key contains its flags). NDEBUG as in whisper.cpp's
 * own release builds (without it ggml-alloc prints debug lines to stderr on every graph).
 */
const NATIVE_FLAGS = ['-O3', '-march=native', '-mtune=native', '-DNDEBUG'];

/**
 * Source patches applied to the copy before building. Each `from` must occur exactly `count`
 * times (default once) so an upstream change fails loudly instead of building something unpatched.
 * @type {Array<{ file: string, from: string, to: string, count?: number }>}
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
    file: 'src/binding/model.cc',
    from: `#include "model.h"\n`,
    to: `#include "model.h"\n\nvoid parley_free_states(whisper_context *ctx);\n`,
  },
  {
    file: 'src/binding/model.cc',
    from: `    void Execute() override { whisper_free(context); }`,
    to: `    void Execute() override {\n        parley_free_states(context);\n        whisper_free(context);\n    }`,
  },
  {
    file: 'src/binding/model.cc',
    from: `    if (context != nullptr) {\n        whisper_free(context);`,
    to: `    if (context != nullptr) {\n        parley_free_states(context);\n        whisper_free(context);`,
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
    to: `   public:
    // Keeps the JS abort flag (read by abort_callback on the worker thread) alive.
    Napi::ObjectReference abort_ref;

    // Back to the pool before JS hears of the result, so the next call (which may be queued the
    // moment it does) finds it.
    void release_state() {
        if (state != nullptr) {
            parley_return_state(context, state);
            state = nullptr;
        }
    }

    void OnError(const Napi::Error& e) override {
        release_state();
        Napi::AsyncProgressQueueWorker<int>::OnError(e);
    }

   private:
    double init_ms = 0;
    double full_ms = 0;
    double timing_ms[6] = {0, 0, 0, 0, 0, 0};
    int    timing_n[5] = {0, 0, 0, 0, 0};
    whisper_context*                       context;`,
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
    // The abort callback reaches ggml's CPU backend, which polls it after every graph node (the
    // encoder's included) and stops the graph. Default arguments keep other callers unchanged.
    file: 'whisper.cpp/src/whisper.cpp',
    from: `static bool ggml_graph_compute_helper(
      ggml_backend_sched_t   sched,
        struct ggml_cgraph * graph,
                       int   n_threads) {

    for (int i = 0; i < ggml_backend_sched_get_n_backends(sched); ++i) {
        ggml_backend_t backend = ggml_backend_sched_get_backend(sched, i);
        if (ggml_backend_is_cpu(backend)) {
            ggml_backend_cpu_set_n_threads(backend, n_threads);
        }`,
    to: `static bool ggml_graph_compute_helper(
      ggml_backend_sched_t   sched,
        struct ggml_cgraph * graph,
                       int   n_threads,
         ggml_abort_callback   abort_callback = nullptr,
                        void * abort_callback_data = nullptr) {

    for (int i = 0; i < ggml_backend_sched_get_n_backends(sched); ++i) {
        ggml_backend_t backend = ggml_backend_sched_get_backend(sched, i);
        if (ggml_backend_is_cpu(backend)) {
            ggml_backend_cpu_set_n_threads(backend, n_threads);
            ggml_backend_cpu_set_abort_callback(backend, abort_callback, abort_callback_data);
        }`,
  },
  {
    // With the callback reaching ggml, its abort path runs, and it races with more than one thread:
    // a helper that reads `abort` after thread 0 set it at the next node leaves the loop without
    // entering that node's barrier, and thread 0 waits there forever (seen here as a hung call).
    // As upstream ggml later fixed it: `abort` holds the index of the node to stop before, so
    // every thread passes the same barriers; -1 = no abort.
    file: 'whisper.cpp/ggml/src/ggml.c',
    from: `    atomic_bool abort;        // Used for aborting processing of a graph`,
    to: `    atomic_int abort;         // Node index to stop before (-1: none); aborts a graph`,
  },
  {
    file: 'whisper.cpp/ggml/src/ggml.c',
    from: `    for (int node_n = 0; node_n < cgraph->n_nodes && !tp->abort; node_n++) {`,
    to: `    for (int node_n = 0; node_n < cgraph->n_nodes && atomic_load_explicit(&tp->abort, memory_order_relaxed) != node_n; node_n++) {`,
  },
  {
    file: 'whisper.cpp/ggml/src/ggml.c',
    from: `            tp->abort = true;`,
    to: `            atomic_store_explicit(&tp->abort, node_n + 1, memory_order_relaxed);`,
  },
  {
    file: 'whisper.cpp/ggml/src/ggml.c',
    count: 2,
    from: `        threadpool->abort            = false;`,
    to: `        threadpool->abort            = -1;`,
  },
  {
    // The conv, encoder and cross graphs (whisper_encode_internal) and the decoder graph
    // (whisper_decode_internal): both functions have the callback in scope.
    file: 'whisper.cpp/src/whisper.cpp',
    count: 4,
    from: `ggml_graph_compute_helper(sched, gf, n_threads)`,
    to: `ggml_graph_compute_helper(sched, gf, n_threads, abort_callback, abort_callback_data)`,
  },
  {
    // ggml's barrier (one per graph node) spins on `pause` until every thread arrives. When the
    // host is busier than its cores, a descheduled partner keeps the others spinning for whole time
    // slices: measured here, 2 threads on a loaded 2-core host took 12 s for what 1 thread does in
    // 0.35 s. After a short spin the waiting threads now yield the core.
    file: 'whisper.cpp/ggml/src/ggml.c',
    from: `    // wait for other threads
    while (atomic_load_explicit(&tp->n_barrier_passed, memory_order_relaxed) == n_passed) {
        ggml_thread_cpu_relax();
    }`,
    to: `    // wait for other threads (spin briefly, then give the core to whoever the partner waits for)
    int n_spins = 0;
    while (atomic_load_explicit(&tp->n_barrier_passed, memory_order_relaxed) == n_passed) {
        if (++n_spins < 2048) {
            ggml_thread_cpu_relax();
        } else {
            sched_yield();
        }
    }`,
  },
  {
    // Per-call timings of a state, read and reset by the binding after each call.
    file: 'whisper.cpp/src/whisper.cpp',
    from: `static int whisper_has_coreml(void) {`,
    to: `void whisper_parley_take_timings(struct whisper_state * s, double * ms, int * n) {
    ms[0] = 1e-3 * s->t_mel_us;
    ms[1] = 1e-3 * s->t_encode_us;
    ms[2] = 1e-3 * s->t_decode_us;
    ms[3] = 1e-3 * s->t_batchd_us;
    ms[4] = 1e-3 * s->t_prompt_us;
    ms[5] = 1e-3 * s->t_sample_us;
    n[0] = s->n_encode;
    n[1] = s->n_decode;
    n[2] = s->n_batchd;
    n[3] = s->n_prompt;
    n[4] = s->n_sample;
    s->t_mel_us = s->t_encode_us = s->t_decode_us = s->t_batchd_us = s->t_prompt_us = s->t_sample_us = 0;
    s->n_encode = s->n_decode = s->n_batchd = s->n_prompt = s->n_sample = 0;
}

static int whisper_has_coreml(void) {`,
  },
  {
    file: 'src/binding/transcribe.cc',
    from: `#include "transcribe.h"\n`,
    to: `#include "transcribe.h"

#include <chrono>
#include <mutex>
#include <unordered_map>
#include <vector>

void whisper_parley_take_timings(struct whisper_state * s, double * ms, int * n);

// Idle whisper states per context. whisper_init_state allocates the KV caches and compute buffers
// (sized for a 30 s window) and plans four graphs: per call that cost more than encoding a short
// clip. Calls take an idle state (or make one) and give it back.
static std::mutex parley_states_mutex;
static std::unordered_map<whisper_context*, std::vector<whisper_state*>> parley_idle_states;

static whisper_state* parley_take_state(whisper_context* ctx) {
    {
        std::lock_guard<std::mutex> lock(parley_states_mutex);
        auto it = parley_idle_states.find(ctx);
        if (it != parley_idle_states.end() && !it->second.empty()) {
            whisper_state* s = it->second.back();
            it->second.pop_back();
            return s;
        }
    }
    return whisper_init_state(ctx);
}

static void parley_return_state(whisper_context* ctx, whisper_state* s) {
    {
        std::lock_guard<std::mutex> lock(parley_states_mutex);
        auto& idle = parley_idle_states[ctx];
        // Calls on one context are serialised by the caller; a few spares cover overlap.
        if (idle.size() < 2) {
            idle.push_back(s);
            return;
        }
    }
    whisper_free_state(s);
}

// Frees the idle states of a context; call before whisper_free(ctx), with no call running.
void parley_free_states(whisper_context* ctx) {
    std::vector<whisper_state*> idle;
    {
        std::lock_guard<std::mutex> lock(parley_states_mutex);
        auto it = parley_idle_states.find(ctx);
        if (it != parley_idle_states.end()) {
            idle.swap(it->second);
            parley_idle_states.erase(it);
        }
    }
    for (auto s : idle) whisper_free_state(s);
}
`,
  },
  {
    file: 'src/binding/transcribe.cc',
    from: `        state = whisper_init_state(context);\n`,
    to: `        auto t0 = std::chrono::steady_clock::now();
        state = parley_take_state(context);
        auto t1 = std::chrono::steady_clock::now();
        init_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
        if (state == nullptr) {
            SetError("whisper_init_state failed");
            return;
        }
`,
  },
  {
    file: 'src/binding/transcribe.cc',
    from: `        int err = whisper_full_with_state(context, state, params, samples, n_samples);\n`,
    to: `        int err = whisper_full_with_state(context, state, params, samples, n_samples);
        full_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
        whisper_parley_take_timings(state, timing_ms, timing_n);
`,
  },
  {
    file: 'src/binding/transcribe.cc',
    from: `        if (state != nullptr) {\n            whisper_free_state(state);\n        }\n`,
    to: `        release_state();\n`,
  },
  {
    file: 'src/binding/transcribe.cc',
    from: `        Callback().Call({segments});\n`,
    to: `        Napi::Object timings = Napi::Object::New(Env());
        timings.Set("initMs", init_ms);
        timings.Set("fullMs", full_ms);
        timings.Set("melMs", timing_ms[0]);
        timings.Set("encodeMs", timing_ms[1]);
        timings.Set("decodeMs", timing_ms[2]);
        timings.Set("batchdMs", timing_ms[3]);
        timings.Set("promptMs", timing_ms[4]);
        timings.Set("sampleMs", timing_ms[5]);
        timings.Set("encodes", timing_n[0]);
        timings.Set("decodes", timing_n[1]);
        timings.Set("batchds", timing_n[2]);
        timings.Set("prompts", timing_n[3]);
        timings.Set("samples", timing_n[4]);
        segments.Set("timings", timings);
        release_state();
        Callback().Call({segments});
`,
  },
  {
    // Compile everything (ggml included) for this CPU: AVX2/AVX-512/F16C/FMA code paths in ggml
    // are chosen at compile time from these flags.
    file: 'binding.gyp',
    from: `'cflags!': [ '-fno-exceptions' ],`,
    to: `'cflags!': [ '-fno-exceptions' ],\n      'cflags': ${JSON.stringify(NATIVE_FLAGS)},\n      'cflags_cc': ${JSON.stringify(NATIVE_FLAGS)},`,
  },
];

/** Hash of what the build does to the sources: the patches and the compiler flags. */
function recipeHash() {
  return createHash('sha256')
    .update(JSON.stringify({ PATCHES, NATIVE_FLAGS }))
    .digest('hex')
    .slice(0, 16);
}

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
    `patches=${recipeHash()}`,
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
      const parts = src.split(p.from);
      const expected = p.count ?? 1;
      if (parts.length - 1 !== expected) {
        throw new Error(
          `whisper: patch for ${p.file} matched ${parts.length - 1} times (expected ${expected}); recipe outdated`,
        );
      }
      writeFileSync(file, parts.join(p.to));
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
