import { EspeakPhonemizer } from './EspeakPhonemizer';
import { TtsError } from './TtsError';

describe('EspeakPhonemizer (real espeak-ng)', () => {
  let phonemizer: EspeakPhonemizer;

  beforeAll(async () => {
    phonemizer = await EspeakPhonemizer.create({ voice: 'en-us' });
  });

  afterAll(() => phonemizer?.close());

  it('phonemizeSentence() puts back the punctuation espeak-ng drops, as Piper does', async () => {
    expect(await phonemizer.phonemizeSentence('Hello, world.')).toBe('həlˈoʊ, wˈɜːld.');
    expect(await phonemizer.phonemizeSentence('Wait: really; yes?')).toBe('wˈeɪt: ɹˈiəli; jˈɛs?');
    expect(await phonemizer.phonemizeSentence('no stop')).toBe('nˈoʊ stˈɑːp');
  });

  it('answers concurrent requests in order through one process', async () => {
    const words = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight'];
    const results = await Promise.all(
      words.map((w) => phonemizer.phonemizeClauses([w, `${w} again`])),
    );
    const single = await Promise.all(words.map((w) => phonemizer.phonemizeClauses([w])));
    results.forEach((r, i) => {
      expect(r[0]).toBe(single[i][0]);
      expect(r[1].startsWith(single[i][0])).toBe(true);
    });
  });

  it('keeps every word of a very long clause (espeak-ng loses words on long lines)', async () => {
    const clause = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const [ipa] = await phonemizer.phonemizeClauses([clause]);
    expect(ipa.split('wˈɜːd').length - 1).toBe(400);
  });

  it('gives empty IPA for an empty clause and survives control characters and phoneme brackets', async () => {
    expect(await phonemizer.phonemizeClauses(['', 'a\nb\u0000c', '[[h?h?h?]]', '[[a]]'])).toEqual([
      '',
      expect.any(String),
      expect.any(String),
      expect.any(String),
    ]);
    expect(await phonemizer.phonemizeSentence('Still in sync.')).toBe('stˈɪl ɪn sˈɪŋk.');
  });

  it('create() rejects an unknown espeak-ng voice with BAD_VOICE_CONFIG and a missing binary with PHONEMIZER_FAILED', async () => {
    await expect(EspeakPhonemizer.create({ voice: 'zz-nonexistent' })).rejects.toMatchObject({
      code: 'BAD_VOICE_CONFIG',
    });
    const missing = EspeakPhonemizer.create({ voice: 'en-us', binary: '/nonexistent/espeak-ng' });
    await expect(missing).rejects.toBeInstanceOf(TtsError);
    await expect(missing).rejects.toMatchObject({ code: 'PHONEMIZER_FAILED', retryable: true });
  });

  it('close() fails later requests with CLOSED', async () => {
    const p = await EspeakPhonemizer.create({ voice: 'en-us' });
    p.close();
    p.close();
    await expect(p.phonemizeClauses(['hi'])).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
