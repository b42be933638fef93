import { TtsError } from './TtsError';
import { parseVoiceConfig, parseVoiceConfigText } from './VoiceConfig';

const base = {
  audio: { sample_rate: 22050, quality: 'medium' },
  espeak: { voice: 'en-us' },
  inference: { noise_scale: 0.5, length_scale: 1.1, noise_w: 0.7 },
  phoneme_type: 'espeak',
  phoneme_id_map: { _: [0], '^': [1], $: [2], a: [14] },
  num_symbols: 256,
  num_speakers: 2,
  speaker_id_map: { alice: 0, bob: 1 },
  language: { code: 'en_US' },
  dataset: 'whatever',
  piper_version: '1.0.0',
};

function error(fn: () => unknown): TtsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TtsError) return err;
    throw err;
  }
  throw new Error('expected a TtsError');
}

describe('parseVoiceConfig()', () => {
  it('reads a Piper voice config into the engine vocabulary', () => {
    const c = parseVoiceConfig(base, 'v.onnx.json');
    expect(c.sampleRate).toBe(22050);
    expect(c.espeakVoice).toBe('en-us');
    expect(c.inference).toEqual({ noiseScale: 0.5, lengthScale: 1.1, noiseW: 0.7 });
    expect(c.numSpeakers).toBe(2);
    expect(c.speakerIdMap.get('bob')).toBe(1);
    expect(c.phonemeIdMap.get('a')).toEqual([14]);
    expect(c.quality).toBe('medium');
    expect(c.languageCode).toBe('en_US');
  });

  it("falls back to Piper's inference defaults and a single speaker", () => {
    const { inference: _i, num_speakers: _n, speaker_id_map: _s, ...rest } = base;
    const c = parseVoiceConfig(rest, 'v.onnx.json');
    expect(c.inference).toEqual({ noiseScale: 0.667, lengthScale: 1, noiseW: 0.8 });
    expect(c.numSpeakers).toBe(1);
  });

  it('rejects a config without a sample rate or id map with BAD_VOICE_CONFIG naming the file and fields', () => {
    const err = error(() =>
      parseVoiceConfig({ espeak: { voice: 'en-us' } }, '/voices/x.onnx.json'),
    );
    expect(err.code).toBe('BAD_VOICE_CONFIG');
    expect(err.message).toContain('/voices/x.onnx.json');
    expect(err.message).toContain('audio');
    expect(err.message).toContain('phoneme_id_map');
  });

  it('rejects configs Parley cannot use, saying why', () => {
    expect(
      error(() => parseVoiceConfig({ ...base, phoneme_type: 'pinyin' }, 'v')).message,
    ).toContain('pinyin');
    expect(
      error(() => parseVoiceConfig({ ...base, phoneme_id_map: { a: [1] } }, 'v')).message,
    ).toContain('"_"');
    expect(
      error(() => parseVoiceConfig({ ...base, speaker_id_map: { carol: 5 } }, 'v')).message,
    ).toContain('carol');
    expect(
      error(() =>
        parseVoiceConfig({ ...base, phoneme_id_map: { ...base.phoneme_id_map, z: [300] } }, 'v'),
      ).message,
    ).toContain('num_symbols');
    const { espeak: _e, ...noEspeak } = base;
    expect(error(() => parseVoiceConfig(noEspeak, 'v')).code).toBe('BAD_VOICE_CONFIG');
  });

  it('turns JSON syntax errors into BAD_VOICE_CONFIG', () => {
    const err = error(() => parseVoiceConfigText('{ "audio": ', 'broken.onnx.json'));
    expect(err.code).toBe('BAD_VOICE_CONFIG');
    expect(err.message).toContain('broken.onnx.json is not valid JSON');
  });
});
