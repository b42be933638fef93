#!/usr/bin/env node
/**
 * Setup step: generate the synthetic Whisper model used by tests and offline demos.
 *
 * The file is a whisper.cpp ggml model (legacy `ggml` magic, the layout written by whisper.cpp's
 * models/convert-pt-to-ggml.py and read by `whisper_model_load`) with the real **tiny**
 * dimensions (multilingual: n_vocab 51865, 4+4 layers, 384 wide, 6 heads, 80 mels, f16 weights)
 * and **seeded random weights**. It loads and costs what tiny costs, but its text is meaningless:
 * tests assert plumbing, timing and shapes, never words.
 *
 * Layout (all little-endian int32 / float32 unless noted):
 *   magic 0x67676d6c
 *   hparams: n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer
 *            n_text_ctx n_text_state n_text_head n_text_layer n_mels ftype(1 = f16)
 *   mel filters: n_mel n_fft, then n_mel*n_fft float32 (Slaney-style filterbank, as librosa/whisper)
 *   vocab: n, then n × (uint32 len, bytes) — whisper.cpp adds the special tokens itself
 *   tensors until EOF: n_dims, name_len, ttype(0 f32 / 1 f16), ne[n_dims] (innermost first), name,
 *            data
 *
 * The vocabulary holds all 256 single bytes (so any prompt tokenises, and `" "` exists — whisper.cpp
 * aborts with `map::at` without it), a marker token (SYNTHETIC_MARKER, how `@parley/stt-engine`
 * recognises this model), and pronounceable pseudo-words. Weight scales are chosen so the decoder
 * prefers text tokens over timestamps, which gives long, budget-bounded decodes like a real model
 * on speech rather than instant end-of-text.
 *
 * Output: `${root}/.parley/models/ggml-synthetic-tiny.bin`, skipped when present with the expected
 * SHA-256. Node builtins only.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** No Debian packages needed. */
export const aptPackages = [];

/** File name under `${root}/.parley/models/`. */
export const MODEL_FILE = 'ggml-synthetic-tiny.bin';

/** Vocabulary entry (token id 256) that identifies the synthetic model. */
export const SYNTHETIC_MARKER = '<|parley-synthetic-random-weights|>';

/** Seed of the weight generator; changing it (or anything below) changes EXPECTED_SHA256. */
const SEED = 0x5eed_2025;

/** SHA-256 of the generated file; the generator is deterministic across machines. */
export const EXPECTED_SHA256 = '2c3d688de81c307c325b7a7246468338ecbcb4afd36cf6889d415cf18bbfd6f6';

/** Whisper tiny (multilingual) dimensions. */
export const TINY = Object.freeze({
  n_vocab: 51865,
  n_audio_ctx: 1500,
  n_audio_state: 384,
  n_audio_head: 6,
  n_audio_layer: 4,
  n_text_ctx: 448,
  n_text_state: 384,
  n_text_head: 6,
  n_text_layer: 4,
  n_mels: 80,
  ftype: 1,
});

/** Tokens written to the file; whisper.cpp appends the special tokens up to n_vocab itself. */
const N_FILE_TOKENS = 50257;

/** Deterministic PRNG (sfc32 seeded by splitmix32): integer-only, identical on every platform. */
function makeRng(seed) {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  return {
    u32: next,
    /** Uniform in [-1, 1), exactly representable (24-bit mantissa). */
    sym: () => ((next() >>> 8) / 16777216) * 2 - 1,
    int: (n) => next() % n,
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE half bits, round to nearest even (what numpy's astype(float16) does). */
function toHalf(value) {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h += 1;
  return sign | h;
}

/** Slaney mel filterbank (librosa.filters.mel(sr=16000, n_fft=400, n_mels), htk=False, norm=slaney). */
function melFilters(nMels, nFft = 400, sr = 16000) {
  const nFreq = nFft / 2 + 1;
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logstep = Math.log(6.4) / 27;
  const hzToMel = (f) => (f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logstep : f / fSp);
  const melToHz = (m) =>
    m >= minLogMel ? minLogHz * Math.exp(logstep * (m - minLogMel)) : fSp * m;
  const maxMel = hzToMel(sr / 2);
  const melF = Array.from({ length: nMels + 2 }, (_, i) => melToHz((maxMel * i) / (nMels + 1)));
  const fft = Array.from({ length: nFreq }, (_, i) => (i * sr) / nFft);
  const out = new Float32Array(nMels * nFreq);
  for (let m = 0; m < nMels; m++) {
    const enorm = 2 / (melF[m + 2] - melF[m]);
    for (let k = 0; k < nFreq; k++) {
      const lower = (fft[k] - melF[m]) / (melF[m + 1] - melF[m]);
      const upper = (melF[m + 2] - fft[k]) / (melF[m + 2] - melF[m + 1]);
      out[m * nFreq + k] = Math.max(0, Math.min(lower, upper)) * enorm;
    }
  }
  return { nMels, nFreq, data: out };
}

/** 256 byte tokens, the marker, then unique pseudo-words (about 60 % with a leading space). */
function vocabulary(rng) {
  const tokens = [];
  for (let b = 0; b < 256; b++) tokens.push(Buffer.from([b]));
  tokens.push(Buffer.from(SYNTHETIC_MARKER, 'utf8'));
  const onsets = 'b c d f g h j k l m n p r s t v w z ch sh th st tr pl'.split(' ');
  const vowels = 'a e i o u ai ea ou'.split(' ');
  const codas = ['', '', '', 'n', 's', 'r', 'l', 't', 'nd', 'st'];
  const seen = new Set(tokens.map((t) => t.toString('latin1')));
  while (tokens.length < N_FILE_TOKENS) {
    const syllables = 1 + rng.int(3);
    let w = '';
    for (let i = 0; i < syllables; i++) {
      w += onsets[rng.int(onsets.length)] + vowels[rng.int(vowels.length)];
    }
    w += codas[rng.int(codas.length)];
    if (rng.int(10) < 6) w = ` ${w}`;
    else if (rng.int(8) === 0) w = w[0].toUpperCase() + w.slice(1);
    if (seen.has(w)) continue;
    seen.add(w);
    tokens.push(Buffer.from(w, 'utf8'));
  }
  return tokens;
}

/** Whisper's encoder positional embedding: sinusoids(length, channels). */
function sinusoids(length, channels) {
  const half = channels / 2;
  const inc = Math.log(10000) / (half - 1);
  const out = new Float32Array(length * channels);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const v = t * Math.exp(-inc * i);
      out[t * channels + i] = Math.sin(v);
      out[t * channels + half + i] = Math.cos(v);
    }
  }
  return out;
}

/**
 * Tensor specs in whisper.cpp's names. `ne` is innermost-first (ggml order); `type` 0 = f32,
 * 1 = f16; `init` says how to fill it.
 */
function tensorSpecs(h) {
  const A = h.n_audio_state;
  const T = h.n_text_state;
  const specs = [];
  const add = (name, ne, type, init) => specs.push({ name, ne, type, init });
  const mat = (fanIn, gain = 1) => ({ kind: 'uniform', scale: gain * Math.sqrt(3 / fanIn) });
  const bias = { kind: 'uniform', scale: 0.02 };
  const ones = { kind: 'const', value: 1 };
  const zeros = { kind: 'const', value: 0 };

  add('encoder.positional_embedding', [A, h.n_audio_ctx], 0, { kind: 'sinusoids' });
  add('encoder.conv1.weight', [3, h.n_mels, A], 1, mat(3 * h.n_mels));
  add('encoder.conv1.bias', [1, A], 0, bias);
  add('encoder.conv2.weight', [3, A, A], 1, mat(3 * A));
  add('encoder.conv2.bias', [1, A], 0, bias);
  for (let i = 0; i < h.n_audio_layer; i++) {
    const p = `encoder.blocks.${i}.`;
    add(`${p}attn.query.weight`, [A, A], 1, mat(A));
    add(`${p}attn.query.bias`, [A], 0, bias);
    add(`${p}attn.key.weight`, [A, A], 1, mat(A));
    add(`${p}attn.value.weight`, [A, A], 1, mat(A));
    add(`${p}attn.value.bias`, [A], 0, bias);
    add(`${p}attn.out.weight`, [A, A], 1, mat(A, 0.5));
    add(`${p}attn.out.bias`, [A], 0, bias);
    add(`${p}attn_ln.weight`, [A], 0, ones);
    add(`${p}attn_ln.bias`, [A], 0, zeros);
    add(`${p}mlp.0.weight`, [A, 4 * A], 1, mat(A));
    add(`${p}mlp.0.bias`, [4 * A], 0, bias);
    add(`${p}mlp.2.weight`, [4 * A, A], 1, mat(4 * A, 0.5));
    add(`${p}mlp.2.bias`, [A], 0, bias);
    add(`${p}mlp_ln.weight`, [A], 0, ones);
    add(`${p}mlp_ln.bias`, [A], 0, zeros);
  }
  add('encoder.ln_post.weight', [A], 0, ones);
  add('encoder.ln_post.bias', [A], 0, zeros);

  // The token embedding doubles as the output projection: a large scale makes the best text token
  // outweigh the summed timestamp probability, so decodes run to the token budget.
  add('decoder.token_embedding.weight', [T, h.n_vocab], 1, { kind: 'uniform', scale: 0.35 });
  add('decoder.positional_embedding', [T, h.n_text_ctx], 0, { kind: 'uniform', scale: 0.1 });
  for (let i = 0; i < h.n_text_layer; i++) {
    const p = `decoder.blocks.${i}.`;
    for (const a of ['attn', 'cross_attn']) {
      add(`${p}${a}.query.weight`, [T, T], 1, mat(T));
      add(`${p}${a}.query.bias`, [T], 0, bias);
      add(`${p}${a}.key.weight`, [T, T], 1, mat(T));
      add(`${p}${a}.value.weight`, [T, T], 1, mat(T));
      add(`${p}${a}.value.bias`, [T], 0, bias);
      add(`${p}${a}.out.weight`, [T, T], 1, mat(T, 0.5));
      add(`${p}${a}.out.bias`, [T], 0, bias);
      add(`${p}${a}_ln.weight`, [T], 0, ones);
      add(`${p}${a}_ln.bias`, [T], 0, zeros);
    }
    add(`${p}mlp.0.weight`, [T, 4 * T], 1, mat(T));
    add(`${p}mlp.0.bias`, [4 * T], 0, bias);
    add(`${p}mlp.2.weight`, [4 * T, T], 1, mat(4 * T, 0.5));
    add(`${p}mlp.2.bias`, [T], 0, bias);
    add(`${p}mlp_ln.weight`, [T], 0, ones);
    add(`${p}mlp_ln.bias`, [T], 0, zeros);
  }
  add('decoder.ln.weight', [T], 0, ones);
  add('decoder.ln.bias', [T], 0, zeros);
  return specs;
}

/** Builds the whole model file in memory (about 75 MB) and returns it. */
export function generateSyntheticModel(h = TINY, seed = SEED) {
  const rng = makeRng(seed);
  const parts = [];
  const i32 = (...values) => {
    const b = Buffer.alloc(4 * values.length);
    values.forEach((v, i) => b.writeInt32LE(v, 4 * i));
    parts.push(b);
  };

  i32(0x67676d6c);
  i32(
    h.n_vocab,
    h.n_audio_ctx,
    h.n_audio_state,
    h.n_audio_head,
    h.n_audio_layer,
    h.n_text_ctx,
    h.n_text_state,
    h.n_text_head,
    h.n_text_layer,
    h.n_mels,
    h.ftype,
  );

  const mel = melFilters(h.n_mels);
  i32(mel.nMels, mel.nFreq);
  parts.push(Buffer.from(mel.data.buffer, mel.data.byteOffset, mel.data.byteLength));

  const vocab = vocabulary(rng);
  i32(vocab.length);
  for (const t of vocab) {
    i32(t.length);
    parts.push(t);
  }

  for (const spec of tensorSpecs(h)) {
    const name = Buffer.from(spec.name, 'utf8');
    i32(spec.ne.length, name.length, spec.type, ...spec.ne);
    parts.push(name);
    const n = spec.ne.reduce((a, b) => a * b, 1);
    const values =
      spec.init.kind === 'sinusoids' ? sinusoids(spec.ne[1], spec.ne[0]) : new Float32Array(n);
    if (spec.init.kind === 'const') values.fill(spec.init.value);
    else if (spec.init.kind === 'uniform') {
      for (let i = 0; i < n; i++) values[i] = rng.sym() * spec.init.scale;
    }
    if (spec.type === 0) {
      parts.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    } else {
      const half = new Uint16Array(n);
      for (let i = 0; i < n; i++) half[i] = toHalf(values[i]);
      parts.push(Buffer.from(half.buffer, half.byteOffset, half.byteLength));
    }
  }
  return Buffer.concat(parts);
}

/** SHA-256 of a file, streamed in 4 MiB blocks so a 75 MB model is not held twice. */
function sha256File(file) {
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4 << 20);
    let n;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Ensures the synthetic model exists with the expected checksum.
 * @param {{ root: string, cacheDir: string, log: (msg: string) => void }} ctx
 */
export async function ensure(ctx) {
  const { root, log } = ctx;
  const file = join(root, '.parley', 'models', MODEL_FILE);
  if (existsSync(file)) {
    const sum = sha256File(file);
    if (sum === EXPECTED_SHA256) {
      log(`whisper-fixture: ${file} present (sha256 ok)`);
      return { env: { PARLEY_WHISPER_SYNTHETIC_MODEL: file } };
    }
    log(`whisper-fixture: ${file} has sha256 ${sum.slice(0, 12)}…, regenerating`);
  }
  const t0 = Date.now();
  log('whisper-fixture: generating synthetic whisper-tiny model (seeded random weights)');
  const data = generateSyntheticModel();
  const sum = createHash('sha256').update(data).digest('hex');
  if (sum !== EXPECTED_SHA256) {
    throw new Error(
      `whisper-fixture: generated model has sha256 ${sum}, expected ${EXPECTED_SHA256}; ` +
        'the generator is no longer deterministic (or was changed without updating EXPECTED_SHA256)',
    );
  }
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
  log(
    `whisper-fixture: wrote ${file} (${(data.length / 1e6).toFixed(1)} MB) in ${Date.now() - t0} ms`,
  );
  return { env: { PARLEY_WHISPER_SYNTHETIC_MODEL: file } };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = resolve(here, '..', '..');
  const cacheDir = process.env.PARLEY_CACHE_DIR || join(homedir(), '.cache', 'parley');
  if (process.argv[2] === '--print-sha256') {
    console.log(createHash('sha256').update(generateSyntheticModel()).digest('hex'));
  } else {
    ensure({ root, cacheDir, log: (msg) => console.log(msg) }).then(
      (res) => console.log(JSON.stringify(res.env, null, 2)),
      (err) => {
        console.error(err instanceof Error ? err.message : err);
        process.exit(1);
      },
    );
  }
}
