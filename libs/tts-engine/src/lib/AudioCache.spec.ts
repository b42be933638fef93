import { audioCacheKey, decodeCachedAudio, encodeCachedAudio } from './AudioCache';
import type { ResolvedSynthesisOptions } from './PiperVoice';

const params: ResolvedSynthesisOptions = {
  scales: [0.667, 1, 0.8],
  speakerId: undefined,
  silenceSamples: 0,
  normalize: true,
  unspeakable: 'error',
};
const voice = { name: 'v', fingerprint: '100:1:20:2' };

describe('audio cache entries', () => {
  it('encodeCachedAudio() and decodeCachedAudio() round-trip PCM and sentences exactly', () => {
    const pcm = Int16Array.from([0, 1, -1, 32767, -32768, 5, 6]);
    const audio = {
      sampleRate: 22050,
      sentences: [
        { text: 'A.', phonemes: 'ˈeɪ.', samples: 3 },
        { text: 'B!', phonemes: 'bˈiː!', samples: 4 },
      ],
      pcm,
    };
    const buf = encodeCachedAudio(audio);
    // An odd offset, as a Redis reply slice may have.
    const shifted = Buffer.concat([Buffer.from([9]), buf]).subarray(1);
    const back = decodeCachedAudio(shifted);
    expect(back?.sampleRate).toBe(22050);
    expect(back?.sentences).toEqual(audio.sentences);
    expect(Array.from(back?.pcm ?? [])).toEqual(Array.from(pcm));
  });

  it('decodeCachedAudio() rejects foreign or inconsistent bytes instead of throwing', () => {
    const good = encodeCachedAudio({
      sampleRate: 16000,
      sentences: [{ text: 'x', phonemes: 'x', samples: 2 }],
      pcm: Int16Array.from([1, 2]),
    });
    expect(decodeCachedAudio(Buffer.from('not an entry'))).toBeUndefined();
    expect(decodeCachedAudio(good.subarray(0, good.length - 2))).toBeUndefined();
    expect(decodeCachedAudio(Buffer.alloc(3))).toBeUndefined();
  });

  it('audioCacheKey() changes with the text, every model parameter and the voice files', () => {
    const base = audioCacheKey(voice, params, 'Hello.');
    expect(audioCacheKey(voice, params, 'Hello.')).toBe(base);
    expect(audioCacheKey(voice, params, 'Hello!')).not.toBe(base);
    expect(audioCacheKey(voice, { ...params, scales: [0.667, 2, 0.8] }, 'Hello.')).not.toBe(base);
    expect(audioCacheKey(voice, { ...params, speakerId: 1 }, 'Hello.')).not.toBe(base);
    expect(audioCacheKey(voice, { ...params, silenceSamples: 10 }, 'Hello.')).not.toBe(base);
    expect(audioCacheKey(voice, { ...params, normalize: false }, 'Hello.')).not.toBe(base);
    expect(audioCacheKey(voice, { ...params, unspeakable: 'drop' }, 'Hello.')).not.toBe(base);
    expect(audioCacheKey({ ...voice, fingerprint: '101:1:20:2' }, params, 'Hello.')).not.toBe(base);
    expect(audioCacheKey({ ...voice, name: 'w' }, params, 'Hello.')).not.toBe(base);
    // NFC and NFD spellings of the same text are the same speech.
    expect(audioCacheKey(voice, params, 'Caf\u00e9.')).toBe(
      audioCacheKey(voice, params, 'Cafe\u0301.'),
    );
  });
});
