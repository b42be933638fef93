import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  WavError,
  decodeWav,
  downmixToMono,
  float32ToBytes,
  int16ToFloat32,
  resample,
} from '@parley/audio';
import { STT_SAMPLE_RATE_HZ } from '@parley/contracts';
import { SttError } from '@parley/stt-engine';

/** Decoded upload: 16 kHz mono s16le. */
export interface DecodedAudio {
  pcm: Uint8Array;
  durationMs: number;
  /** `wav` (decoded in-process) or `ffmpeg`. */
  decoder: 'wav' | 'ffmpeg';
}

/** Options of {@link decodeAudio}. */
export interface DecodeOptions {
  /** Longest accepted audio, ms (AUDIO_TOO_LONG beyond; ffmpeg stops decoding there). */
  maxMs: number;
  ffmpeg: string;
  timeoutMs: number;
}

const BYTES_PER_MS = (STT_SAMPLE_RATE_HZ * 2) / 1000;

/**
 * Decodes an uploaded file to 16 kHz mono s16le. PCM/float WAV is decoded in-process (no process
 * spawn on the realtime path; a WAV cut short is refused); everything else — MP3, Ogg/Opus, FLAC,
 * WebM, other WAV encodings — goes through ffmpeg. Errors: `EMPTY_AUDIO` (nothing, or no samples),
 * `BAD_AUDIO` (not audio, corrupt or truncated where the decoder can tell), `AUDIO_TOO_LONG`,
 * `DECODER_UNAVAILABLE` (no ffmpeg).
 */
export async function decodeAudio(
  bytes: Uint8Array,
  options: DecodeOptions,
): Promise<DecodedAudio> {
  if (bytes.length === 0) throw new SttError('EMPTY_AUDIO', 'the uploaded file is empty');
  if (isRiffWave(bytes)) {
    try {
      return fromWav(bytes, options.maxMs);
    } catch (err) {
      if (!(err instanceof WavError)) throw err;
      if (err.code !== 'UNSUPPORTED_FORMAT') {
        throw new SttError('BAD_AUDIO', `corrupt or truncated WAV: ${err.message}`);
      }
      // µ-law, 24-bit, …: ffmpeg knows them.
    }
  }
  return ffmpegDecode(bytes, options);
}

function isRiffWave(b: Uint8Array): boolean {
  return (
    b.length >= 12 &&
    String.fromCharCode(b[0], b[1], b[2], b[3]) === 'RIFF' &&
    String.fromCharCode(b[8], b[9], b[10], b[11]) === 'WAVE'
  );
}

function fromWav(bytes: Uint8Array, maxMs: number): DecodedAudio {
  const wav = decodeWav(bytes);
  if (wav.frames === 0) throw new SttError('EMPTY_AUDIO', 'the WAV file has no samples');
  const durationMs = wav.durationSeconds * 1000;
  if (durationMs > maxMs) throw tooLong(maxMs);
  const mono =
    wav.channels === 1 && wav.sampleRate === STT_SAMPLE_RATE_HZ && wav.samples instanceof Int16Array
      ? undefined
      : downmixToMono(
          wav.samples instanceof Int16Array ? int16ToFloat32(wav.samples) : wav.samples,
          wav.channels,
        );
  if (!mono) {
    // decodeWav already copied the samples out of the upload: a view, not a second copy.
    const s = wav.samples as Int16Array;
    const pcm = new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
    return { pcm, durationMs, decoder: 'wav' };
  }
  const pcm = float32ToBytes(resample(mono, wav.sampleRate, STT_SAMPLE_RATE_HZ));
  return { pcm, durationMs: pcm.length / BYTES_PER_MS, decoder: 'wav' };
}

function tooLong(maxMs: number): SttError {
  return new SttError('AUDIO_TOO_LONG', `audio is longer than the ${maxMs / 1000} s allowed`);
}

async function ffmpegDecode(bytes: Uint8Array, options: DecodeOptions): Promise<DecodedAudio> {
  // A file, not stdin: containers with their index at the end (MP4/M4A) need to seek.
  const file = join(tmpdir(), `parley-stt-${process.pid}-${randomBytes(6).toString('hex')}`);
  await writeFile(file, bytes);
  const limitBytes = Math.ceil(options.maxMs * BYTES_PER_MS);
  try {
    const { stdout, stderr, code, overLimit } = await run(
      options.ffmpeg,
      [
        '-nostdin',
        '-hide_banner',
        '-v',
        'error',
        '-i',
        file,
        // Decode one sample past the limit at most: enough to know it is too long.
        '-t',
        String(options.maxMs / 1000 + 0.05),
        '-vn',
        '-sn',
        '-ac',
        '1',
        '-ar',
        String(STT_SAMPLE_RATE_HZ),
        '-f',
        's16le',
        'pipe:1',
      ],
      limitBytes + BYTES_PER_MS,
      options.timeoutMs,
    );
    if (overLimit || stdout.length > limitBytes) throw tooLong(options.maxMs);
    const problem = firstLine(stderr.split(file).join('input'));
    if (code !== 0) {
      throw new SttError(
        'BAD_AUDIO',
        `not a decodable audio file${problem ? ` (ffmpeg: ${problem})` : ''}`,
      );
    }
    // ffmpeg decodes what it can of a damaged file and says so on stderr: refuse rather than
    // transcribe half a file as if it were whole.
    if (problem) throw new SttError('BAD_AUDIO', `corrupt or truncated audio (ffmpeg: ${problem})`);
    const usable = stdout.length - (stdout.length % 2);
    if (usable === 0) throw new SttError('EMPTY_AUDIO', 'the file holds no audio samples');
    return {
      pcm: usable === stdout.length ? stdout : stdout.subarray(0, usable),
      durationMs: usable / BYTES_PER_MS,
      decoder: 'ffmpeg',
    };
  } finally {
    await rm(file, { force: true });
  }
}

function firstLine(stderr: string): string {
  return (
    stderr
      .split('\n')
      .map((l) => l.replace(/^\[[^\]]*\]\s*/, '').trim())
      .find(Boolean)
      ?.slice(0, 300) ?? ''
  );
}

function run(
  bin: string,
  args: string[],
  maxStdout: number,
  timeoutMs: number,
): Promise<{ stdout: Uint8Array; stderr: string; code: number | null; overLimit: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let overLimit = false;
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxStdout) {
        overLimit = true;
        child.kill('SIGKILL');
        return;
      }
      chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        err.code === 'ENOENT'
          ? new SttError('DECODER_UNAVAILABLE', `ffmpeg not found (${bin}); install ffmpeg`)
          : err,
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && !overLimit) {
        reject(new SttError('BAD_AUDIO', `decoding took longer than ${timeoutMs} ms`));
        return;
      }
      const buf = Buffer.concat(chunks);
      resolve({
        stdout: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength),
        stderr,
        code,
        overLimit,
      });
    });
  });
}
