/**
 * Helpers for this library's integration specs (not exported from the package).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeWav, downmixToMono, int16ToFloat32, resample } from '@parley/audio';

/** Repository root (this file is libs/stt-engine/src/spec-helpers.ts). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

function runSetup(name: string): Record<string, string> {
  const out = execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'setup', `${name}.mjs`)], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const json = out.slice(out.lastIndexOf('\n{') + 1);
  return JSON.parse(json) as Record<string, string>;
}

/**
 * Runs the (idempotent) setup steps the engine needs: the native addon (restored from the cache in
 * ~0.2 s, built in ~40 s when cold) and the synthetic model (generated in ~3 s when missing).
 */
export function ensureWhisperSetup(): { addonPath: string; modelPath: string } {
  const addon = runSetup('whisper');
  const fixture = runSetup('whisper-fixture');
  return {
    addonPath: addon['PARLEY_WHISPER_ADDON'],
    modelPath: fixture['PARLEY_WHISPER_SYNTHETIC_MODEL'],
  };
}

/** Speech from espeak-ng as 16 kHz mono Float32, optionally cut or zero-padded to `seconds`. */
export function espeakSpeech(text: string, seconds?: number): Float32Array {
  const dir = mkdtempSync(join(tmpdir(), 'parley-stt-'));
  try {
    const file = join(dir, 'speech.wav');
    execFileSync('espeak-ng', ['-w', file, text]);
    const wav = decodeWav(new Uint8Array(readFileSync(file)));
    const samples =
      wav.samples instanceof Int16Array
        ? int16ToFloat32(wav.samples)
        : Float32Array.from(wav.samples);
    const mono = downmixToMono(samples, wav.channels);
    const pcm = resample(mono, wav.sampleRate, 16000);
    if (seconds === undefined) return pcm;
    const out = new Float32Array(Math.round(seconds * 16000));
    out.set(pcm.subarray(0, out.length));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same text repeated until at least `seconds` of speech, then cut to exactly `seconds`. */
export function speechOfLength(seconds: number): Float32Array {
  const sentence = 'Parley turns speech into text while people talk in the room. ';
  const once = espeakSpeech(sentence).length;
  const repeats = Math.ceil((seconds * 16000) / once) + 1;
  return espeakSpeech(sentence.repeat(repeats), seconds);
}
