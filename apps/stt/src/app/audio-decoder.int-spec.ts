import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SttError } from '@parley/stt-engine';
import { decodeAudio } from './audio-decoder';

const opts = { maxMs: 10_000, ffmpeg: 'ffmpeg', timeoutMs: 30_000 };

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof SttError ? err.code : `not SttError: ${String(err)}`;
  }
  return 'resolved';
}

describe('decodeAudio() with Debian ffmpeg', () => {
  let dir: string;
  const files: Record<string, Uint8Array> = {};
  let wavMs = 0;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'parley-stt-decoder-'));
    const wav = join(dir, 's.wav');
    execFileSync('espeak-ng', ['-w', wav, 'The quick brown fox jumps over the lazy dog.']);
    wavMs = Number(execFileSync('soxi', ['-D', wav], { encoding: 'utf8' })) * 1000;
    const enc: Record<string, string[]> = {
      mp3: ['-c:a', 'libmp3lame'],
      ogg: ['-c:a', 'libopus'],
      flac: ['-c:a', 'flac'],
      webm: ['-c:a', 'libopus'],
    };
    for (const [ext, args] of Object.entries(enc)) {
      const out = join(dir, `s.${ext}`);
      execFileSync('ffmpeg', ['-y', '-v', 'error', '-i', wav, ...args, out]);
      files[ext] = new Uint8Array(readFileSync(out));
    }
    execFileSync('ffmpeg', [
      '-y',
      '-v',
      'error',
      '-i',
      wav,
      '-c:a',
      'pcm_mulaw',
      join(dir, 'u.wav'),
    ]);
    files['mulaw'] = new Uint8Array(readFileSync(join(dir, 'u.wav')));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['mp3', 'ogg', 'flac', 'webm', 'mulaw'])(
    'decodes %s to 16 kHz mono s16le of the right length',
    async (ext) => {
      const d = await decodeAudio(files[ext] as Uint8Array, opts);
      expect(d.decoder).toBe('ffmpeg');
      expect(d.pcm.length % 2).toBe(0);
      expect(d.durationMs).toBeCloseTo(d.pcm.length / 32, 6);
      // Codec delay/padding differs per format: within 100 ms of the source.
      expect(Math.abs(d.durationMs - wavMs)).toBeLessThan(100);
    },
  );

  it('refuses non-audio, corrupt and cut-off files that ffmpeg reports, with BAD_AUDIO', async () => {
    expect(await codeOf(decodeAudio(new TextEncoder().encode('hello, not audio'), opts))).toBe(
      'BAD_AUDIO',
    );
    const flac = files['flac'] as Uint8Array;
    expect(await codeOf(decodeAudio(flac.subarray(0, flac.length / 2), opts))).toBe('BAD_AUDIO');
    const webm = files['webm'] as Uint8Array;
    expect(await codeOf(decodeAudio(webm.subarray(0, webm.length / 2), opts))).toBe('BAD_AUDIO');
  });

  it('stops decoding at the duration limit with AUDIO_TOO_LONG', async () => {
    expect(await codeOf(decodeAudio(files['mp3'] as Uint8Array, { ...opts, maxMs: 1000 }))).toBe(
      'AUDIO_TOO_LONG',
    );
  });

  it('reports a missing ffmpeg as DECODER_UNAVAILABLE', async () => {
    expect(
      await codeOf(
        decodeAudio(files['mp3'] as Uint8Array, { ...opts, ffmpeg: '/nonexistent/ffmpeg' }),
      ),
    ).toBe('DECODER_UNAVAILABLE');
  });
});
