import { SttEngineError } from './SttEngineError';
import {
  defaultMaxTokens,
  fitAudioContext,
  normalizeSegments,
  resolveTranscribeOptions,
  toNativeParams,
  validateAudio,
} from './WhisperParams';

const tinyHparams = {
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
};
const multilingual = { multilingual: true, languageCount: 99, hparams: tinyHparams };
const englishOnly = {
  multilingual: false,
  languageCount: 1,
  hparams: { ...tinyHparams, n_vocab: 51864 },
};

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof SttEngineError ? err.code : `not SttEngineError: ${String(err)}`;
  }
  return undefined;
}

describe('fitAudioContext()', () => {
  it('is ceil(ceil(seconds × 50) / 64) × 64 frames, between 64 and 1500', () => {
    expect(fitAudioContext(2)).toBe(128);
    expect(fitAudioContext(4)).toBe(256);
    expect(fitAudioContext(8)).toBe(448);
    expect(fitAudioContext(1)).toBe(64);
    expect(fitAudioContext(0.1)).toBe(64);
    expect(fitAudioContext(12.81)).toBe(704);
    expect(fitAudioContext(29.9)).toBe(1500);
    expect(fitAudioContext(60)).toBe(1500);
  });
});

describe('defaultMaxTokens()', () => {
  it('grows with the audio and is capped at 224', () => {
    expect(defaultMaxTokens(1)).toBe(24);
    expect(defaultMaxTokens(4)).toBe(48);
    expect(defaultMaxTokens(30)).toBe(224);
  });
});

describe('resolveTranscribeOptions()', () => {
  it('defaults to English, greedy without fallback, one segment and a fitted context', () => {
    const o = resolveTranscribeOptions({}, multilingual, 4, 2);
    expect(o).toMatchObject({
      language: 'en',
      temperature: 0,
      temperatureIncrement: 0,
      singleSegment: true,
      audioContext: 256,
      maxTokens: 48,
      threads: 2,
      priority: 'realtime',
      offsetMs: 0,
    });
  });

  it('uses the full context and lets whisper segment audio longer than 30 s', () => {
    const o = resolveTranscribeOptions({}, multilingual, 45, 2);
    expect(o.audioContext).toBe(0);
    expect(o.singleSegment).toBe(false);
    expect(
      resolveTranscribeOptions({ audioContext: 'full' }, multilingual, 4, 2).audioContext,
    ).toBe(0);
    expect(resolveTranscribeOptions({ audioContext: 512 }, multilingual, 4, 2).audioContext).toBe(
      512,
    );
  });

  it('rejects unknown languages and non-English languages on English-only models', () => {
    expect(code(() => resolveTranscribeOptions({ language: 'xx' }, multilingual, 4, 2))).toBe(
      'UNSUPPORTED_LANGUAGE',
    );
    expect(code(() => resolveTranscribeOptions({ language: 'de' }, englishOnly, 4, 2))).toBe(
      'UNSUPPORTED_LANGUAGE',
    );
    expect(code(() => resolveTranscribeOptions({ language: 'auto' }, englishOnly, 4, 2))).toBe(
      'UNSUPPORTED_LANGUAGE',
    );
    // "yue" exists only in large-v3 (100 languages).
    expect(code(() => resolveTranscribeOptions({ language: 'yue' }, multilingual, 4, 2))).toBe(
      'UNSUPPORTED_LANGUAGE',
    );
    expect(resolveTranscribeOptions({ language: 'DE' }, multilingual, 4, 2).language).toBe('de');
    expect(resolveTranscribeOptions({ language: 'en' }, englishOnly, 4, 2).language).toBe('en');
  });

  it('rejects out-of-range numbers with BAD_OPTIONS', () => {
    for (const bad of [
      { maxTokens: 0 },
      { maxTokens: 1.5 },
      { maxTokens: 225 },
      { temperature: -0.1 },
      { temperature: Number.NaN },
      { temperatureIncrement: 2 },
      { offsetMs: -1 },
      { threads: 0 },
      { audioContext: 10 },
      { audioContext: 'half' as never },
      { priority: 'urgent' as never },
    ]) {
      expect([bad, code(() => resolveTranscribeOptions(bad, multilingual, 4, 2))]).toEqual([
        bad,
        'BAD_OPTIONS',
      ]);
    }
  });
});

describe('toNativeParams()', () => {
  it('asks whisper.cpp for greedy decoding with the resolved budget, context and abort flag', () => {
    const flag = new Int32Array(1);
    const p = toNativeParams(
      resolveTranscribeOptions({ prompt: 'Parley' }, multilingual, 2, 3),
      flag,
    );
    expect(p).toMatchObject({
      strategy: 0,
      n_threads: 3,
      temperature_inc: 0,
      single_segment: true,
      audio_ctx: 128,
      max_tokens: 32,
      initial_prompt: 'Parley',
      no_context: true,
      format: 'detail',
    });
    expect(p['abort_flag']).toBe(flag);
  });
});

describe('validateAudio()', () => {
  it('accepts Float32 PCM and rejects everything else with BAD_AUDIO', () => {
    expect(code(() => validateAudio(Float32Array.from([0, 0.5, -1])))).toBeUndefined();
    expect(code(() => validateAudio(new Float32Array(0)))).toBe('BAD_AUDIO');
    expect(code(() => validateAudio(Int16Array.from([1, 2])))).toBe('BAD_AUDIO');
    expect(code(() => validateAudio([0.1, 0.2]))).toBe('BAD_AUDIO');
    expect(code(() => validateAudio(Float32Array.from([0, Number.NaN])))).toBe('BAD_AUDIO');
    expect(code(() => validateAudio(Float32Array.from([0, Infinity])))).toBe('BAD_AUDIO');
    expect(code(() => validateAudio(Float32Array.from([0, 1200])))).toBe('BAD_AUDIO');
  });
});

describe('normalizeSegments()', () => {
  it('clamps times to the clip, keeps them monotonic, shifts by offsetMs and drops empty text', () => {
    const out = normalizeSegments(
      [
        { from: 280, to: 30000, text: ' hello ', tokens: [{ text: 'a', id: 1, p: 0.5 }] },
        { from: 100, to: 1500, text: 'overlap', confidence: 0.7 },
        { from: 3000, to: 3500, text: '   ' },
        { from: -50, to: Number.NaN, text: 'late' },
      ],
      4000,
      10_000,
    );
    expect(out).toEqual([
      { t0: 10_280, t1: 14_000, text: 'hello', tokens: 1, confidence: 0 },
      { t0: 14_000, t1: 14_000, text: 'overlap', tokens: 0, confidence: 0.7 },
      { t0: 14_000, t1: 14_000, text: 'late', tokens: 0, confidence: 0 },
    ]);
  });
});
