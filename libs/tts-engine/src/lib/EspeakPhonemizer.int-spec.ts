import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { espeakHelperBinary } from './EspeakHelper';
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

  it('uses the libespeak-ng helper by default and answers in well under a millisecond per sentence', async () => {
    expect(phonemizer.mode).toBe('library');
    const sentence = 'It speaks the first sentence while the rest is still being synthesised.';
    await phonemizer.phonemizeSentence(sentence);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await phonemizer.phonemizeSentence(sentence);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    // The espeak-ng command takes ~3 ms here (it synthesises the audio it throws away).
    expect(times[10]).toBeLessThan(1.5);
  });

  it('library and command give the same IPA for ordinary sentences', async () => {
    const command = await EspeakPhonemizer.create({ voice: 'en-us', helper: false });
    try {
      expect(command.mode).toBe('command');
      const sentences = [
        'Welcome to Parley, the self-hosted voice pipeline.',
        'It speaks the first sentence while the rest is still being synthesised.',
        'Ask it anything, and it will answer right away!',
        'The quick brown fox jumps over the lazy dog; then it sleeps.',
        'Dr. Smith paid three dollars and fifty cents at ten a m.',
        'Is this the real life? Is this just fantasy?',
        'one thousand two hundred and thirty four',
      ];
      for (const s of sentences)
        expect(await phonemizer.phonemizeSentence(s)).toBe(await command.phonemizeSentence(s));
    } finally {
      command.close();
    }
  });

  it('espeakHelperBinary() resolves undefined without a compiler and builds into its cache dir; a helper that does not run falls back to the command', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'parley-espeak-'));
    try {
      await expect(
        espeakHelperBinary({ cacheDir, cc: '/nonexistent/cc' }),
      ).resolves.toBeUndefined();
      const built = await espeakHelperBinary({ cacheDir });
      expect(built).toContain(cacheDir);
      const p = await EspeakPhonemizer.create({ voice: 'en-us', helper: built });
      try {
        expect(p.mode).toBe('library');
        expect(await p.phonemizeSentence('Hello, world.')).toBe('həlˈoʊ, wˈɜːld.');
      } finally {
        p.close();
      }
      // A helper that does not run: the command takes over; an unknown voice is still refused.
      const fallback = await EspeakPhonemizer.create({
        voice: 'en-us',
        helper: join(cacheDir, 'missing'),
      });
      try {
        expect(fallback.mode).toBe('command');
        expect(await fallback.phonemizeSentence('Hello, world.')).toBe('həlˈoʊ, wˈɜːld.');
      } finally {
        fallback.close();
      }
      await expect(
        EspeakPhonemizer.create({ voice: 'zz-nonexistent', helper: built }),
      ).rejects.toMatchObject({ code: 'BAD_VOICE_CONFIG' });
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('the helper restarts after it dies, failing only the requests in flight', async () => {
    const p = await EspeakPhonemizer.create({ voice: 'en-us' });
    try {
      expect(p.mode).toBe('library');
      const { pid } = p;
      expect(typeof pid).toBe('number');
      process.kill(pid as number, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      expect(await p.phonemizeSentence('Back again.')).toBe('bˈæk ɐɡˈɛn.');
    } finally {
      p.close();
    }
  });
});
