import { FIXTURE_VOICES, ensureFixtureVoices } from '../test/fixture-voices';
import { PiperVoice } from './PiperVoice';
import { TtsError } from './TtsError';

describe('ModelRunner with worker threads', () => {
  beforeAll(() => ensureFixtureVoices());

  it('close() during an inference fails the caller with CLOSED and lets the run end (no process abort)', async () => {
    // The medium-size stand-in: a run lasts long enough to close in the middle of it.
    const voice = await PiperVoice.load(FIXTURE_VOICES.standin, { workers: 1 });
    let closing: Promise<void> | undefined;
    voice.observer.on('runstart', () => {
      closing ??= new Promise((r) => setTimeout(r, 20)).then(() => voice.close());
    });
    let error: unknown;
    try {
      for await (const _ of voice.synthesizeStream(
        'This sentence keeps the model busy for a while. And so does this one.',
      ));
    } catch (err) {
      error = err;
    }
    await closing;
    expect(error).toBeInstanceOf(TtsError);
    expect((error as TtsError).code).toBe('CLOSED');
    expect(voice.closed).toBe(true);
  });
});
