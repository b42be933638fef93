import { allowedScripts, screenText } from './ScriptGuard';
import { TtsError } from './TtsError';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof TtsError ? err.code : 'not a TtsError';
  }
  return undefined;
}

describe('screenText()', () => {
  it('accepts ordinary English with digits, punctuation, currency and accented Latin', () => {
    const text = 'Café naïve résumé: 50% of $3.50 — “quoted” (ok) © 2024 20°!';
    expect(screenText(text, 'en-us')).toEqual({ text, dropped: [] });
  });

  it('rejects emoji and other scripts under the error policy, naming them', () => {
    let err: TtsError | undefined;
    try {
      screenText('Hello 😀 Привет', 'en-us');
    } catch (e) {
      err = e as TtsError;
    }
    expect(err?.code).toBe('UNSPEAKABLE_TEXT');
    expect(err?.retryable).toBe(false);
    expect(err?.message).toContain('U+1F600');
    expect(err?.message).toContain('U+041F');
    expect((err?.details?.['characters'] as unknown[]).length).toBe(7);
  });

  it('drops them under the drop policy, keeps word boundaries and reports counts', () => {
    const r = screenText('hi😀there 😀 👍🏽 ok', 'en-us', 'drop');
    expect(r.text.replace(/\s+/gu, ' ')).toBe('hi there ok');
    expect(r.dropped.map((d) => [d.codePoint, d.count])).toEqual([
      ['U+1F600', 2],
      ['U+1F44D', 1],
      ['U+1F3FD', 1],
    ]);
  });

  it("accepts the voice's own script and Latin, not a third one", () => {
    expect(screenText('Привет, world', 'ru').dropped).toEqual([]);
    expect(codeOf(() => screenText('Привет 中文', 'ru'))).toBe('UNSPEAKABLE_TEXT');
    expect(screenText('你好 world', 'cmn').dropped).toEqual([]);
  });

  it('accepts every script for languages it does not know', () => {
    expect(allowedScripts('xx-unknown')).toBeUndefined();
    expect(screenText('Привет 中文 ok', 'xx-unknown').dropped).toEqual([]);
  });

  it('removes invisible formatting characters silently', () => {
    expect(screenText('soft\u00adhyphen\u200b zero\ufeff', 'en-us')).toEqual({
      text: 'softhyphen zero',
      dropped: [],
    });
  });

  it('fails when nothing speakable is left, under either policy', () => {
    expect(codeOf(() => screenText('😀 🎉', 'en-us', 'drop'))).toBe('UNSPEAKABLE_TEXT');
    expect(codeOf(() => screenText('... !!! ?', 'en-us'))).toBe('UNSPEAKABLE_TEXT');
    expect(codeOf(() => screenText('\u{E000}', 'en-us', 'drop'))).toBe('UNSPEAKABLE_TEXT');
  });
});
