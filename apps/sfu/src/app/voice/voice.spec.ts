import { sfuEnv } from '@parley/config';
import { segmenterOptions, sttLanguage } from './tap.service';

describe('sfu voice settings', () => {
  it('sttLanguage() turns a room language into a Whisper code, or none', () => {
    expect(sttLanguage('en')).toBe('en');
    expect(sttLanguage('en-US')).toBe('en');
    expect(sttLanguage('pt_BR')).toBe('pt');
    expect(sttLanguage('AUTO')).toBe('auto');
    expect(sttLanguage('haw')).toBe('haw');
    expect(sttLanguage(undefined)).toBeUndefined();
    expect(sttLanguage('english')).toBeUndefined();
    expect(sttLanguage('e1')).toBeUndefined();
  });

  it('segmenterOptions() come from the SFU config, the utterance capped at the STT limit', () => {
    const o = segmenterOptions(
      sfuEnv.parse({
        SFU_TAP_PARTIAL_INTERVAL_MS: '750',
        SFU_VAD_HANGOVER_MS: '350',
        SFU_VAD_MIN_SPEECH_MS: '80',
        SFU_VAD_MIN_DB: '-45',
        SFU_VAD_MARGIN_DB: '12',
        SFU_TAP_MAX_UTTERANCE_MS: '20000',
      }),
    );
    expect(o).toEqual({
      vad: { minSpeechDb: -45, marginDb: 12 },
      segmenter: { minSpeechMs: 80, hangoverMs: 350, maxUtteranceMs: 20000 },
      partialIntervalMs: 750,
    });
    expect(() => sfuEnv.parse({ SFU_TAP_MAX_UTTERANCE_MS: '30000' })).toThrow();
    expect(segmenterOptions(sfuEnv.parse({})).segmenter?.hangoverMs).toBe(400);
  });
});
