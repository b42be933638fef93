import { encodeWav } from '@parley/audio';
import { SttError } from '@parley/stt-engine';
import { decodeAudio } from './audio-decoder';

const opts = { maxMs: 2000, ffmpeg: '/nonexistent/ffmpeg', timeoutMs: 1000 };

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof SttError ? err.code : `not SttError: ${String(err)}`;
  }
  return 'resolved';
}

function tone(seconds: number, rate: number, channels: number): Int16Array {
  const out = new Int16Array(Math.round(seconds * rate) * channels);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(8000 * Math.sin(i * 0.05));
  return out;
}

describe('decodeAudio() without ffmpeg (WAV fast path)', () => {
  it('passes 16 kHz mono PCM WAV through unchanged', async () => {
    const samples = tone(1, 16000, 1);
    const d = await decodeAudio(encodeWav(samples, { sampleRate: 16000, channels: 1 }), opts);
    expect(d.decoder).toBe('wav');
    expect(d.durationMs).toBe(1000);
    expect(new Int16Array(d.pcm.buffer, d.pcm.byteOffset, d.pcm.length / 2)).toEqual(samples);
  });

  it('downmixes and resamples other WAVs to 16 kHz mono', async () => {
    const d = await decodeAudio(
      encodeWav(tone(0.5, 48000, 2), { sampleRate: 48000, channels: 2 }),
      opts,
    );
    expect(d.decoder).toBe('wav');
    expect(d.pcm.length).toBe(16000); // 0.5 s × 16 kHz × 2 bytes
    expect(d.durationMs).toBe(500);
  });

  it('refuses empty input, a WAV without samples, a truncated WAV and a WAV over the limit', async () => {
    expect(await codeOf(decodeAudio(new Uint8Array(), opts))).toBe('EMPTY_AUDIO');
    expect(
      await codeOf(
        decodeAudio(encodeWav(new Int16Array(), { sampleRate: 16000, channels: 1 }), opts),
      ),
    ).toBe('EMPTY_AUDIO');
    const wav = encodeWav(tone(1, 16000, 1), { sampleRate: 16000, channels: 1 });
    expect(await codeOf(decodeAudio(wav.subarray(0, wav.length / 2), opts))).toBe('BAD_AUDIO');
    const long = encodeWav(tone(3, 16000, 1), { sampleRate: 16000, channels: 1 });
    expect(await codeOf(decodeAudio(long, opts))).toBe('AUDIO_TOO_LONG');
  });
});
