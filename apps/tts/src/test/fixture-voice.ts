import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Repository root (this file is apps/tts/src/test/). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');

/** The generated voices (scripts/setup/piper-fixture.mjs). */
export const VOICES = {
  fixture: join(REPO_ROOT, '.parley', 'voices', 'parley-fixture.onnx'),
  multi: join(REPO_ROOT, '.parley', 'voices', 'parley-fixture-multi.onnx'),
  standin: join(REPO_ROOT, '.parley', 'bench-voices', 'parley-standin-medium.onnx'),
};

/** Generates the fixture voices if missing or outdated (fast when warm). */
export function ensureVoices(): void {
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'setup', 'piper-fixture.mjs')], {
    stdio: 'pipe',
  });
  for (const v of Object.values(VOICES))
    if (!existsSync(v)) throw new Error(`${v} was not generated`);
}

/** A temporary voices directory linking the given models (and their configs). */
export function voicesDir(models: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-tts-voices-'));
  for (const model of models) {
    const name = model.replace(/^.*\//u, '');
    symlinkSync(model, join(dir, name));
    symlinkSync(`${model}.json`, join(dir, `${name}.json`));
  }
  return dir;
}

/**
 * The fixture model's output, restated from scripts/setup/piper/fixture-voice.mjs so the tests
 * check the generated model instead of trusting it: one tone per phoneme id, 256 samples each
 * (times length_scale), at 22050 Hz.
 */
export function fixtureTones(
  ids: readonly number[],
  o: { lengthScale?: number; noiseScale?: number; noiseW?: number; sid?: number } = {},
): Float64Array {
  const { lengthScale = 1, noiseScale = 0.667, noiseW = 0.8, sid = 0 } = o;
  const perId = Math.max(1, Math.round(lengthScale * 256));
  const amplitude = 0.2 + 0.3 * noiseScale + 0.1 * noiseW;
  const out = new Float64Array(ids.length * perId);
  ids.forEach((id, i) => {
    const f = 200 + 10 * id + 50 * sid;
    for (let n = 0; n < perId; n++)
      out[i * perId + n] = amplitude * Math.sin((2 * Math.PI * f * n) / 22050);
  });
  return out;
}

/** Largest difference between PCM and floats peak-normalised as Piper does (scale 32767/peak). */
export function maxNormalizedError(pcm: Int16Array, expected: Float64Array): number {
  if (pcm.length !== expected.length) return Infinity;
  let peak = 0;
  for (const x of expected) peak = Math.max(peak, Math.abs(x));
  const scale = 32767 / Math.max(0.01, peak);
  let worst = 0;
  for (let i = 0; i < pcm.length; i++)
    worst = Math.max(worst, Math.abs(pcm[i] - expected[i] * scale));
  return worst;
}

/** Phoneme ids of "Hello, world." in the fixture voice (espeak-ng en-us, Piper's id map). */
export const HELLO_WORLD_IDS = [
  1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 8, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122, 0, 24, 0,
  17, 0, 10, 0, 2,
];
