// Setup module: generates the Piper voices Parley's TTS tests and benchmarks run on, since no
// real Piper voice can be downloaded on these machines.
//
//   .parley/voices/parley-fixture.onnx(.json)        tiny, deterministic: one tone per phoneme id
//   .parley/voices/parley-fixture-multi.onnx(.json)  same with a `sid` input and 2 speakers
//   .parley/bench-voices/parley-standin-medium.onnx(.json)
//                                                    Piper-medium layer shapes, random weights:
//                                                    costs what a real medium voice costs
//
// All three have exactly Piper's ONNX signature and a Piper-style .onnx.json. The ONNX protobuf
// is written by scripts/setup/piper/onnx-writer.mjs (node builtins only). Deterministic and
// idempotent: a stamp records the generator version and file sizes; a warm run only stats files.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildFixtureModel, buildVoiceConfig } from './piper/fixture-voice.mjs';
import { STANDIN, buildStandinModel } from './piper/standin-voice.mjs';

/** espeak-ng is what the TTS engine phonemises with; the fixtures themselves need nothing. */
export const aptPackages = ['espeak-ng'];

// Bump when a generator's output changes, so warm caches regenerate that voice only.
const FIXTURE_VERSION = 4;
const STANDIN_VERSION = 1;
const STAMP_VERSION = 2;

function writeAtomic(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function voiceSpecs(root) {
  const voices = join(root, '.parley', 'voices');
  const bench = join(root, '.parley', 'bench-voices');
  return [
    {
      name: 'parley-fixture',
      version: FIXTURE_VERSION,
      path: join(voices, 'parley-fixture.onnx'),
      build: () => buildFixtureModel(),
      config: () => buildVoiceConfig({ name: 'parley-fixture' }),
    },
    {
      name: 'parley-fixture-multi',
      version: FIXTURE_VERSION,
      path: join(voices, 'parley-fixture-multi.onnx'),
      build: () => buildFixtureModel({ multiSpeaker: true }),
      config: () => buildVoiceConfig({ name: 'parley-fixture-multi', multiSpeaker: true }),
    },
    {
      name: 'parley-standin-medium',
      version: STANDIN_VERSION,
      path: join(bench, 'parley-standin-medium.onnx'),
      build: () => buildStandinModel().model,
      config: () => ({
        ...buildVoiceConfig({ name: 'parley-standin-medium', quality: 'medium', fixture: false }),
        parley_standin: {
          note: 'random weights with Piper medium layer shapes; audio is noise, cost is real',
          frames_per_id: STANDIN.FRAMES_PER_ID,
          hop_length: STANDIN.HOP,
        },
      }),
    },
  ];
}

function stampPath(root) {
  return join(root, '.parley', 'voices', '.parley-fixture-stamp.json');
}

function readStamp(root) {
  try {
    const stamp = JSON.parse(readFileSync(stampPath(root), 'utf8'));
    return stamp.version === STAMP_VERSION ? stamp : { files: {} };
  } catch {
    return { files: {} };
  }
}

/** A voice is fresh when the stamp has its generator version and both files have the stamped sizes. */
function isFresh(spec, stamp) {
  const rec = stamp.files?.[spec.name];
  if (!rec || rec.version !== spec.version) return false;
  return [
    [spec.path, rec.onnxBytes],
    [`${spec.path}.json`, rec.jsonBytes],
  ].every(([file, size]) => existsSync(file) && statSync(file).size === size);
}

function checkEspeak(log) {
  const r = spawnSync('espeak-ng', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    log(
      'piper-fixture: WARNING espeak-ng not found — the TTS engine needs it to phonemise text ' +
        '(Debian: apt-get install -y espeak-ng)',
    );
    return undefined;
  }
  return r.stdout.trim();
}

/**
 * @param {{ root: string, cacheDir?: string, log?: (msg: string) => void, isRoot?: boolean }} ctx
 * @returns {Promise<{ env: Record<string, string> }>}
 */
export async function ensure(ctx) {
  const root = resolve(ctx.root);
  const log = ctx.log ?? ((m) => console.log(m));
  const specs = voiceSpecs(root);
  const env = {
    TTS_VOICES_DIR: join(root, '.parley', 'voices'),
    PARLEY_TTS_FIXTURE_VOICE: specs[0].path,
    PARLEY_TTS_FIXTURE_MULTI_VOICE: specs[1].path,
    PARLEY_TTS_STANDIN_VOICE: specs[2].path,
  };
  const espeak = checkEspeak(log);
  if (espeak) log(`piper-fixture: ${espeak}`);

  const stamp = readStamp(root);
  const stale = specs.filter((s) => !isFresh(s, stamp));
  if (stale.length === 0) {
    log('piper-fixture: voices up to date');
    return { env };
  }

  const files = { ...stamp.files };
  for (const s of stale) {
    const started = Date.now();
    let model;
    try {
      model = s.build();
    } catch (err) {
      throw new Error(`piper-fixture: building ${s.name} failed: ${err?.stack ?? err}`);
    }
    const json = Buffer.from(`${JSON.stringify(s.config(), null, 2)}\n`, 'utf8');
    writeAtomic(s.path, model);
    writeAtomic(`${s.path}.json`, json);
    const sha = createHash('sha256').update(model).digest('hex');
    files[s.name] = {
      version: s.version,
      onnxBytes: model.length,
      jsonBytes: json.length,
      onnxSha256: sha,
    };
    log(
      `piper-fixture: wrote ${s.path} (${(model.length / 1e6).toFixed(2)} MB, sha256 ${sha.slice(0, 12)}…, ${Date.now() - started} ms)`,
    );
  }
  writeAtomic(stampPath(root), `${JSON.stringify({ version: STAMP_VERSION, files }, null, 2)}\n`);
  return { env };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  ensure({
    root,
    cacheDir: process.env.PARLEY_CACHE_DIR,
    log: (m) => console.log(m),
    isRoot: process.getuid?.() === 0,
  })
    .then(({ env }) => {
      for (const [k, v] of Object.entries(env)) console.log(`${k}=${v}`);
    })
    .catch((err) => {
      console.error(err?.message ?? err);
      process.exit(1);
    });
}
