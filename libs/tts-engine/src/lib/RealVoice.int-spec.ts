import { existsSync } from 'node:fs';

import { FIXTURE_VOICES, ensureFixtureVoices } from '../test/fixture-voices';
import { PiperVoice } from './PiperVoice';

// A real Piper voice cannot be downloaded on CI machines; point PARLEY_PIPER_VOICE at one
// (e.g. en_US-lessac-medium.onnx) to run this.
const realVoice = process.env['PARLEY_PIPER_VOICE'];
const withVoice = realVoice ? it : it.skip;

describe('PiperVoice on a real Piper voice', () => {
  withVoice(
    `synthesises an English sentence with a plausible duration${realVoice ? '' : ' (skipped: set PARLEY_PIPER_VOICE to a Piper .onnx to run)'}`,
    async () => {
      const voice = await PiperVoice.load(realVoice as string);
      try {
        const text = 'The quick brown fox jumps over the lazy dog.';
        const result = await voice.synthesize(text);
        // ~2.5 s at normal speed for every English Piper voice we know; generous bounds.
        expect(result.durationSeconds).toBeGreaterThan(1.2);
        expect(result.durationSeconds).toBeLessThan(6);
        const slow = await voice.synthesize(text, { lengthScale: 1.5 });
        expect(slow.durationSeconds).toBeGreaterThan(result.durationSeconds * 1.2);
        let energy = 0;
        for (const s of result.pcm) energy += s * s;
        expect(Math.sqrt(energy / result.pcm.length)).toBeGreaterThan(300);
      } finally {
        await voice.close();
      }
    },
  );
});

describe('PiperVoice on the medium-size stand-in', () => {
  beforeAll(() => ensureFixtureVoices());

  it('loads a Piper-medium-sized model and gives round(lengthScale * 2) frames of 256 samples per id', async () => {
    expect(existsSync(FIXTURE_VOICES.standin)).toBe(true);
    const voice = await PiperVoice.load(FIXTURE_VOICES.standin, { workers: 1 });
    try {
      const ids = [1, 0, 20, 0, 59, 0, 24, 0, 2];
      expect((await voice.synthesizeIds(ids)).length).toBe(ids.length * 2 * 256);
      expect((await voice.synthesizeIds(ids, { lengthScale: 2 })).length).toBe(
        ids.length * 4 * 256,
      );
      // The event loop stays responsive while the worker runs the model.
      let ticks = 0;
      const timer = setInterval(() => (ticks += 1), 5);
      await voice.synthesize(
        'This sentence keeps the model busy for a while, long enough to measure.',
      );
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(3);
    } finally {
      await voice.close();
    }
  });
});
