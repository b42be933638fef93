import { SttError } from '@parley/stt-engine';
import { clip, parseInferenceFields } from './inference.service';
import { optionsFromForm } from './jobs.controller';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof SttError ? err.code : `not SttError: ${String(err)}`;
  }
  return 'no error';
}

describe('whisper.cpp /inference fields', () => {
  it('defaults to json and reads response_format, or response-format as whisper.cpp’s README spells it', () => {
    expect(parseInferenceFields({}).format).toBe('json');
    expect(parseInferenceFields({ response_format: 'srt' }).format).toBe('srt');
    expect(parseInferenceFields({ 'response-format': 'vtt' }).format).toBe('vtt');
  });

  it('maps temperature, language, prompt, translate, offset_t and duration', () => {
    const p = parseInferenceFields({
      temperature: '0.2',
      temperature_inc: '0.2',
      language: 'DE',
      prompt: 'Parley',
      translate: 'true',
      offset_t: '500',
      duration: '1000',
      beam_size: '5',
    });
    expect(p.options).toEqual({
      temperature: 0.2,
      language: 'de',
      prompt: 'Parley',
      translate: true,
    });
    expect(p.offsetMs).toBe(500);
    expect(p.durationMs).toBe(1000);
  });

  it('refuses unknown formats, unknown languages and out-of-range numbers with codes', () => {
    expect(codeOf(() => parseInferenceFields({ response_format: 'xml' }))).toBe('BAD_OPTIONS');
    expect(codeOf(() => parseInferenceFields({ language: 'xx' }))).toBe('UNSUPPORTED_LANGUAGE');
    expect(codeOf(() => parseInferenceFields({ language: 'english' }))).toBe(
      'UNSUPPORTED_LANGUAGE',
    );
    expect(codeOf(() => parseInferenceFields({ temperature: '2' }))).toBe('BAD_OPTIONS');
    expect(codeOf(() => parseInferenceFields({ temperature: 'hot' }))).toBe('BAD_OPTIONS');
    expect(codeOf(() => parseInferenceFields({ offset_t: '-1' }))).toBe('BAD_OPTIONS');
  });

  it('clip() cuts offset_t/duration out of 16 kHz s16le audio, and refuses an empty selection', () => {
    const pcm = new Uint8Array(32 * 1000); // 1 s
    const d = { pcm, durationMs: 1000, decoder: 'wav' as const };
    expect(clip(d, 0, 0)).toBe(d);
    const c = clip(d, 250, 500);
    expect(c.pcm.length).toBe(32 * 500);
    expect(c.durationMs).toBe(500);
    expect(clip(d, 900, 0).durationMs).toBe(100);
    expect(codeOf(() => clip(d, 1000, 0))).toBe('EMPTY_AUDIO');
  });

  it('job form options: unknown language is UNSUPPORTED_LANGUAGE, bad temperature BAD_OPTIONS', () => {
    expect(optionsFromForm({ language: 'fr', translate: '1', temperature: '0' })).toEqual({
      language: 'fr',
      translate: true,
      temperature: 0,
    });
    expect(codeOf(() => optionsFromForm({ language: 'klingon' }))).toBe('UNSUPPORTED_LANGUAGE');
    expect(codeOf(() => optionsFromForm({ temperature: '7' }))).toBe('BAD_OPTIONS');
  });
});
