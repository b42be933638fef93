import { execFileSync } from 'node:child_process';

import { encodeAudio, encodeAudioStream, ffmpegHasOpus } from './AudioEncoding';
import { TtsError } from './TtsError';

function tone(samples: number, hz: number, rate = 22050): Int16Array {
  return Int16Array.from({ length: samples }, (_, n) =>
    Math.round(8000 * Math.sin((2 * Math.PI * hz * n) / rate)),
  );
}

describe('Ogg/Opus through ffmpeg', () => {
  it('ffmpegHasOpus() is true for Debian’s ffmpeg and false for a missing binary', async () => {
    expect(await ffmpegHasOpus('ffmpeg')).toBe(true);
    expect(await ffmpegHasOpus('/nonexistent/ffmpeg')).toBe(false);
  });

  it('encodeAudio(ogg) is bit-exact: the same PCM gives the same bytes, and ffprobe reads it as Opus', async () => {
    const pcm = tone(22050, 440);
    const a = Buffer.from(await encodeAudio('ogg', pcm, 22050));
    const b = Buffer.from(await encodeAudio('ogg', pcm, 22050));
    expect(a.subarray(0, 4).toString('latin1')).toBe('OggS');
    expect(a.equals(b)).toBe(true);
    const probe = execFileSync(
      'ffprobe',
      [
        '-v',
        'error',
        '-show_entries',
        'stream=codec_name,sample_rate,channels',
        '-of',
        'json',
        '-',
      ],
      { input: a },
    ).toString();
    expect(JSON.parse(probe)).toMatchObject({
      streams: [{ codec_name: 'opus', sample_rate: '48000', channels: 1 }],
    });
  });

  it('encodeAudioStream(ogg) ends with the source’s error when the source fails mid-way', async () => {
    async function* failing(): AsyncGenerator<Int16Array> {
      yield tone(22050, 300);
      throw new TtsError('ABORTED', 'client went away');
    }
    let error: unknown;
    try {
      for await (const _ of encodeAudioStream('ogg', 22050, failing()));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TtsError);
    expect((error as TtsError).code).toBe('ABORTED');
  });

  it('encodeAudioStream(ogg) with a missing ffmpeg fails with UNSUPPORTED_FORMAT', async () => {
    async function* one(): AsyncGenerator<Int16Array> {
      yield tone(2205, 300);
    }
    await expect(
      (async () => {
        for await (const _ of encodeAudioStream('ogg', 22050, one(), {
          ffmpegPath: '/nonexistent/ffmpeg',
        }));
      })(),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
  });
});
