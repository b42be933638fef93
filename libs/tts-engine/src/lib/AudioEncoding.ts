import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';

import { encodeWav, wavHeader } from '@parley/audio';

import { TtsError } from './TtsError';

/** Output encodings: WAV (PCM16), raw 16-bit little-endian PCM, Ogg/Opus. */
export type AudioFormat = 'wav' | 'pcm' | 'ogg';

/** Options of Ogg/Opus encoding (through ffmpeg). */
export interface OpusOptions {
  /** ffmpeg binary. Default `ffmpeg`. */
  ffmpegPath?: string;
  /** Opus bitrate in bits per second. Default 32000. */
  bitrate?: number;
}

/** MIME type of a format at a sample rate. */
export function audioContentType(format: AudioFormat, sampleRate: number): string {
  switch (format) {
    case 'wav':
      return 'audio/wav';
    case 'pcm':
      // audio/L16 is big-endian by definition; this is little-endian PCM, so say so explicitly.
      return `audio/pcm;rate=${sampleRate};channels=1;encoding=s16le`;
    case 'ogg':
      return 'audio/ogg;codecs=opus';
  }
}

function bytesOf(pcm: Int16Array): Uint8Array {
  return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/**
 * Encodes a complete synthesis: a WAV with exact sizes, raw PCM, or Ogg/Opus. Deterministic: the
 * same PCM gives the same bytes (ffmpeg runs bit-exact, so even Ogg stream serials match).
 */
export async function encodeAudio(
  format: AudioFormat,
  pcm: Int16Array,
  sampleRate: number,
  opus: OpusOptions = {},
): Promise<Uint8Array> {
  if (format === 'wav') return encodeWav(pcm, { sampleRate, channels: 1 });
  if (format === 'pcm') return bytesOf(pcm);
  const parts: Uint8Array[] = [];
  for await (const part of encodeAudioStream('ogg', sampleRate, single(pcm), opus))
    parts.push(part);
  return Buffer.concat(parts);
}

async function* single(pcm: Int16Array): AsyncGenerator<Int16Array> {
  yield pcm;
}

/**
 * Encodes PCM chunks as they come. WAV starts with a header whose sizes say "until the end of
 * the stream" (0xFFFFFFFF), sent together with the first chunk; PCM chunks pass through as
 * bytes; Ogg/Opus goes through one ffmpeg process per stream. An error of the source (e.g.
 * `ABORTED`) ends the stream with that error after stopping ffmpeg.
 */
export async function* encodeAudioStream(
  format: AudioFormat,
  sampleRate: number,
  chunks: AsyncIterable<Int16Array>,
  opus: OpusOptions = {},
): AsyncGenerator<Uint8Array> {
  if (format === 'ogg') {
    yield* oggOpusStream(sampleRate, chunks, opus);
    return;
  }
  let first = format === 'wav';
  for await (const pcm of chunks) {
    if (first) {
      first = false;
      yield Buffer.concat([wavHeader({ sampleRate, channels: 1 }), bytesOf(pcm)]);
    } else {
      yield bytesOf(pcm);
    }
  }
  if (first) yield wavHeader({ sampleRate, channels: 1 });
}

function ffmpegArgs(sampleRate: number, bitrate: number): string[] {
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    's16le',
    '-ar',
    String(sampleRate),
    '-ac',
    '1',
    '-i',
    'pipe:0',
    '-c:a',
    'libopus',
    '-b:a',
    String(bitrate),
    '-application',
    'voip',
    // Opus runs at 48 kHz (what WebRTC plays); ffmpeg resamples the voice's rate.
    '-ar',
    '48000',
    // Bit-exact: no random Ogg serial or encoder version string, so equal PCM gives equal bytes.
    '-fflags',
    '+bitexact',
    '-flags:a',
    '+bitexact',
    // Small pages flushed at once, so a streaming client gets each sentence as it is encoded.
    '-page_duration',
    '100000',
    '-flush_packets',
    '1',
    '-f',
    'ogg',
    'pipe:1',
  ];
}

async function* oggOpusStream(
  sampleRate: number,
  chunks: AsyncIterable<Int16Array>,
  opus: OpusOptions,
): AsyncGenerator<Uint8Array> {
  const ffmpeg = opus.ffmpegPath ?? 'ffmpeg';
  const proc = spawn(ffmpeg, ffmpegArgs(sampleRate, opus.bitrate ?? 32_000), {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 4000) stderr += b.toString('utf8');
  });
  // EPIPE when ffmpeg dies first; the exit code reports it.
  proc.stdin.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    proc.once('error', (error) => resolve({ code: null, error }));
    proc.once('close', (code) => resolve({ code }));
  });
  let sourceError: unknown;
  // Stops the pump when the consumer leaves early, even while it waits for ffmpeg to drain.
  const stop = new AbortController();
  const pump = (async () => {
    try {
      for await (const pcm of chunks) {
        if (stop.signal.aborted) break;
        if (!proc.stdin.write(bytesOf(pcm)))
          await once(proc.stdin, 'drain', { signal: stop.signal });
      }
      proc.stdin.end();
    } catch (err) {
      if (!stop.signal.aborted) sourceError = err;
      proc.kill('SIGKILL');
    }
  })();
  try {
    for await (const data of proc.stdout as AsyncIterable<Buffer>) {
      if (sourceError) break;
      yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    // stdout ends when ffmpeg exits (normally only after the pump closed its stdin).
    const { code, error } = await exited;
    stop.abort();
    await pump;
    if (sourceError) throw sourceError;
    if (error) {
      throw new TtsError(
        'UNSUPPORTED_FORMAT',
        `cannot run ${ffmpeg} for Ogg/Opus: ${error.message}`,
      );
    }
    if (code !== 0) {
      throw new TtsError(
        'ENGINE_FAILED',
        `ffmpeg (Ogg/Opus) exited with ${code}: ${stderr.trim()}`,
      );
    }
  } finally {
    stop.abort();
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
}

/** Whether `ffmpeg` runs and has the libopus encoder (what Ogg/Opus output needs). */
export function ffmpegHasOpus(ffmpegPath = 'ffmpeg'): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(ffmpegPath, ['-hide_banner', '-encoders'], { timeout: 10_000 }, (err, stdout) =>
      resolve(!err && /\blibopus\b/u.test(stdout)),
    );
  });
}
