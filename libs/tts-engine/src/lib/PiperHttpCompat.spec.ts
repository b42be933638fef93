import {
  type PiperVoiceLookup,
  formBodyToText,
  parsePiperBody,
  parsePiperJson,
  parsePiperQuery,
  piperInfo,
  piperPhonemes,
  resolvePiperRequest,
} from './PiperHttpCompat';
import { TtsError } from './TtsError';

const voices: PiperVoiceLookup = {
  defaultVoice: 'single',
  has: (name: string) => name === 'single' || name === 'multi',
  speakers: (name: string): { numSpeakers: number; speakerIdMap: Record<string, number> } =>
    name === 'multi'
      ? { numSpeakers: 3, speakerIdMap: { alice: 0, bob: 1, carol: 2 } }
      : { numSpeakers: 1, speakerIdMap: {} },
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof TtsError ? err.code : String(err);
  }
  return 'no error';
}

describe('Piper HTTP compatibility', () => {
  it('parsePiperJson() reads piper1 fields, trims the text and accepts numeric strings as float() does', () => {
    expect(
      parsePiperJson({
        text: '  Hello.  ',
        voice: 'multi',
        speaker: 'bob',
        speaker_id: '2',
        length_scale: '1.5',
        noise_scale: 0.3,
        noise_w_scale: 0.4,
      }),
    ).toEqual({
      text: 'Hello.',
      voice: 'multi',
      speaker: 'bob',
      speakerId: 2,
      lengthScale: 1.5,
      noiseScale: 0.3,
      noiseW: 0.4,
    });
  });

  it('parsePiperJson() takes noise_w (rhasspy/piper’s name) when noise_w_scale is absent', () => {
    expect(parsePiperJson({ text: 'a', noise_w: 0.2 }).noiseW).toBe(0.2);
    expect(parsePiperJson({ text: 'a', noise_w: 0.2, noise_w_scale: 0.9 }).noiseW).toBe(0.9);
  });

  it('parsePiperJson() refuses non-objects, non-string text and non-numeric scales with INVALID_OPTION', () => {
    expect(codeOf(() => parsePiperJson('Hello'))).toBe('INVALID_OPTION');
    expect(codeOf(() => parsePiperJson([1]))).toBe('INVALID_OPTION');
    expect(codeOf(() => parsePiperJson({ text: 5 }))).toBe('INVALID_OPTION');
    expect(codeOf(() => parsePiperJson({ text: 'a', length_scale: 'fast' }))).toBe(
      'INVALID_OPTION',
    );
    expect(codeOf(() => parsePiperJson({ text: 'a', speaker_id: 1.5 }))).toBe('INVALID_OPTION');
  });

  it('parsePiperQuery() reads text and the optional parameters from a query string', () => {
    expect(parsePiperQuery({ text: ' This is a test. ', length_scale: '2' })).toMatchObject({
      text: 'This is a test.',
      lengthScale: 2,
    });
    expect(parsePiperQuery({}).text).toBe('');
    expect(parsePiperQuery({ text: ['first', 'second'] }).text).toBe('first');
  });

  it('parsePiperBody() treats a JSON object with text as piper1’s request and anything else as the text', () => {
    expect(parsePiperBody('{"text":"Hi.","length_scale":2}')).toMatchObject({
      text: 'Hi.',
      lengthScale: 2,
    });
    expect(parsePiperBody('This is a test.\n')).toEqual({ text: 'This is a test.' });
    expect(parsePiperBody('{not json} is spoken')).toEqual({ text: '{not json} is spoken' });
    expect(parsePiperBody('{"other":1}')).toEqual({ text: '{"other":1}' });
  });

  it('formBodyToText() puts a form-parsed text body back together', () => {
    expect(formBodyToText({ 'This is a test.': '' })).toBe('This is a test.');
    expect(formBodyToText({ 'Tom ': ' Jerry', ' a': '' })).toBe('Tom = Jerry& a');
  });

  it('resolvePiperRequest() falls back to the default voice and speaker 0 as Piper does', () => {
    const unknown = resolvePiperRequest({ text: 'a', voice: 'nope' }, voices);
    expect(unknown.voice).toBe('single');
    expect(unknown.speakerId).toBeUndefined();
    expect(unknown.warnings).toHaveLength(1);
    expect(
      resolvePiperRequest({ text: 'a', voice: 'multi', speaker: 'carol' }, voices),
    ).toMatchObject({
      voice: 'multi',
      speakerId: 2,
    });
    expect(
      resolvePiperRequest({ text: 'a', voice: 'multi', speaker: 'bob', speakerId: 0 }, voices)
        .speakerId,
    ).toBe(0);
    expect(
      resolvePiperRequest({ text: 'a', voice: 'multi', speaker: 'zed' }, voices).speakerId,
    ).toBe(0);
    expect(resolvePiperRequest({ text: 'a', voice: 'multi', speakerId: 3 }, voices).speakerId).toBe(
      0,
    );
    expect(resolvePiperRequest({ text: 'a', speakerId: 2 }, voices).speakerId).toBeUndefined();
  });

  it('piperInfo() has piper1’s shape, with last null before any synthesis', () => {
    const voice = { name: 'single', espeakVoice: 'en-us', numSpeakers: 1 };
    expect(piperInfo(voice, undefined)).toEqual({
      voice: { name: 'single', language: 'en-us', num_speakers: 1 },
      last: null,
    });
    const last = {
      text: 'a',
      synthesize_seconds: 0.1,
      phonemes: piperPhonemes('ˈeɪ'),
      alignments: [],
    };
    expect(piperInfo(voice, last).last).toEqual(last);
    expect(last.phonemes).toEqual(['ˈ', 'e', 'ɪ']);
  });
});
