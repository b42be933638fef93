import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

/** Repository root (this file is libs/tts-engine/src/test/). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');

/** Paths of the generated voices (scripts/setup/piper-fixture.mjs). */
export const FIXTURE_VOICES = {
  dir: join(REPO_ROOT, '.parley', 'voices'),
  single: join(REPO_ROOT, '.parley', 'voices', 'parley-fixture.onnx'),
  multi: join(REPO_ROOT, '.parley', 'voices', 'parley-fixture-multi.onnx'),
  standin: join(REPO_ROOT, '.parley', 'bench-voices', 'parley-standin-medium.onnx'),
};

/**
 * The fixture's tone formula (see scripts/setup/piper/fixture-voice.mjs), restated here so the
 * tests check the generated model instead of trusting it.
 */
export const FIXTURE = {
  SAMPLE_RATE: 22050,
  SAMPLES_PER_ID: 256,
  BASE_HZ: 200,
  STEP_HZ: 10,
  SPEAKER_STEP_HZ: 50,
};

let ensured = false;

/**
 * Runs the fixture setup module once per test process: it regenerates missing or outdated
 * voices (~1.5 s cold) and only checks a stamp when warm (~0.1 s).
 */
export function ensureFixtureVoices(): void {
  if (ensured) return;
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'setup', 'piper-fixture.mjs')], {
    stdio: 'pipe',
  });
  ensured = true;
}

/** Float samples the fixture model should produce for `ids`. */
export function expectedFixtureAudio(
  ids: readonly number[],
  opts: { lengthScale?: number; noiseScale?: number; noiseW?: number; sid?: number } = {},
): Float64Array {
  const { lengthScale = 1, noiseScale = 0.667, noiseW = 0.8, sid = 0 } = opts;
  const perId = Math.max(1, Math.round(lengthScale * FIXTURE.SAMPLES_PER_ID));
  const amplitude = 0.2 + 0.3 * noiseScale + 0.1 * noiseW;
  const out = new Float64Array(ids.length * perId);
  ids.forEach((id, i) => {
    const f = FIXTURE.BASE_HZ + FIXTURE.STEP_HZ * id + FIXTURE.SPEAKER_STEP_HZ * sid;
    for (let n = 0; n < perId; n++)
      out[i * perId + n] = amplitude * Math.sin((2 * Math.PI * f * n) / FIXTURE.SAMPLE_RATE);
  });
  return out;
}

/** Largest absolute difference between PCM16 and float samples scaled by 32767. */
export function maxPcmError(pcm: Int16Array, expected: Float64Array): number {
  if (pcm.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < pcm.length; i++)
    worst = Math.max(worst, Math.abs(pcm[i] - expected[i] * 32767));
  return worst;
}
