import { phonemesToIds, splitPhonemes } from './PhonemeIds';
import { parseVoiceConfig } from './VoiceConfig';

// A slice of Piper's default map (piper-phonemize DEFAULT_PHONEME_ID_MAP), ids as there.
const PIPER_MAP: Record<string, number[]> = {
  _: [0],
  '^': [1],
  $: [2],
  ' ': [3],
  ',': [8],
  '.': [10],
  c: [16],
  d: [17],
  h: [20],
  l: [24],
  o: [27],
  w: [35],
  ə: [59],
  ɜ: [62],
  ʊ: [100],
  ˈ: [120],
  ː: [122],
  '\u0327': [140],
};

function config(extra: Record<string, unknown> = {}) {
  return parseVoiceConfig(
    {
      audio: { sample_rate: 22050 },
      espeak: { voice: 'en-us' },
      phoneme_id_map: PIPER_MAP,
      ...extra,
    },
    'test.onnx.json',
  );
}

describe('phonemesToIds()', () => {
  it('builds ^ _ then each phoneme followed by _ then $, as Piper does', () => {
    const c = config();
    const { ids, missing } = phonemesToIds(splitPhonemes('həlˈoʊ, wˈɜːld.', c), c);
    expect(ids).toEqual([
      1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 8, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122, 0,
      24, 0, 17, 0, 10, 0, 2,
    ]);
    expect(missing.size).toBe(0);
  });

  it('gives 2 * phonemes + 3 ids', () => {
    const c = config();
    for (const ipa of ['', 'h', 'həl', 'wˈɜːld.']) {
      expect(phonemesToIds(splitPhonemes(ipa, c), c).ids.length).toBe(2 * [...ipa].length + 3);
    }
  });

  it('skips and counts phonemes the map lacks, like Piper', () => {
    const c = config();
    const { ids, missing } = phonemesToIds(['h', 'ʒ', 'ʒ', '\u200d', 'l'], c);
    expect(ids).toEqual([1, 0, 20, 0, 24, 0, 2]);
    expect(Object.fromEntries(missing)).toEqual({ ʒ: 2, '\u200d': 1 });
  });
});

describe('splitPhonemes()', () => {
  it('decomposes to NFD so accents get their own ids', () => {
    const c = config();
    expect(splitPhonemes('ç', c)).toEqual(['c', '\u0327']);
    expect(phonemesToIds(splitPhonemes('ç', c), c).ids).toEqual([1, 0, 16, 0, 140, 0, 2]);
  });

  it("applies the voice's phoneme_map and merges its vowel clusters", () => {
    const c = config({
      phoneme_id_map: { ...PIPER_MAP, oʊ: [165] },
      phoneme_map: { w: ['h', 'w'] },
      vowel_clusters: [['o', 'ʊ']],
    });
    expect(splitPhonemes('woʊl', c)).toEqual(['h', 'w', 'oʊ', 'l']);
    expect(phonemesToIds(splitPhonemes('oʊ', c), c).ids).toEqual([1, 0, 165, 0, 2]);
  });
});
