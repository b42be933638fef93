/**
 * RIFF/WAVE encoding and decoding for the formats Parley moves around: 16-bit PCM (what Piper
 * and whisper.cpp speak) and 32-bit IEEE float (what many tools write), mono or multi-channel,
 * any sample rate. Samples are interleaved, as in the file.
 */
import { float32ToInt16, int16ToFloat32 } from './pcm';

/**
 * Why a WAV buffer could not be decoded or encoded.
 *
 * - `TRUNCATED`: the buffer ends before a header, chunk or sample frame does.
 * - `NOT_RIFF`: no `RIFF` magic (or `RIFX`/`RF64`, which are not supported).
 * - `NOT_WAVE`: a RIFF file of another form type (e.g. `AVI `).
 * - `MISSING_FMT`: no `fmt ` chunk before the `data` chunk.
 * - `MISSING_DATA`: no `data` chunk.
 * - `UNSUPPORTED_FORMAT`: a valid WAV in an encoding other than PCM16 or float32.
 * - `BAD_FORMAT`: an inconsistent `fmt ` chunk (zero channels, wrong block align, ...) or bad
 *   arguments to the encoder.
 */
export type WavErrorCode =
  | 'TRUNCATED'
  | 'NOT_RIFF'
  | 'NOT_WAVE'
  | 'MISSING_FMT'
  | 'MISSING_DATA'
  | 'UNSUPPORTED_FORMAT'
  | 'BAD_FORMAT';

/** The error class of the WAV codec; never retryable (the same bytes fail the same way). */
export class WavError extends Error {
  override readonly name = 'WavError';
  /** Machine-readable reason. */
  readonly code: WavErrorCode;
  /** Always false: decoding is deterministic. */
  readonly retryable = false;

  constructor(code: WavErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Sample encodings the codec handles. */
export type WavSampleFormat = 'pcm16' | 'float32';

/** The format of a WAV stream. */
export interface WavFormat {
  /** Frames per second, e.g. 22050. */
  sampleRate: number;
  /** Interleaved channels (1 = mono, 2 = stereo). */
  channels: number;
  /** Sample encoding; `pcm16` unless stated. */
  sampleFormat?: WavSampleFormat;
}

/** A decoded WAV file. */
export interface DecodedWav {
  /** Frames per second. */
  sampleRate: number;
  /** Interleaved channels. */
  channels: number;
  /** Encoding of `samples`. */
  sampleFormat: WavSampleFormat;
  /** Interleaved samples: `Int16Array` for pcm16, `Float32Array` for float32. */
  samples: Int16Array | Float32Array;
  /** Sample frames (samples per channel). */
  frames: number;
  /** Duration in seconds. */
  durationSeconds: number;
}

/** Options for {@link decodeWav}. */
export interface DecodeWavOptions {
  /**
   * Accept a `data` chunk that is shorter than its header claims (a file cut off mid-write),
   * keeping the whole frames that are present. Off by default: a truncated file is an error.
   */
  allowTruncated?: boolean;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Streaming writers put this (or 0) in size fields they cannot know in advance. */
const UNKNOWN_SIZE = 0xffffffff;
const HEADER_BYTES = 44;

function bitsOf(format: WavSampleFormat): 16 | 32 {
  return format === 'pcm16' ? 16 : 32;
}

function checkFormat(format: WavFormat): Required<WavFormat> {
  const sampleFormat = format.sampleFormat ?? 'pcm16';
  if (
    !Number.isInteger(format.sampleRate) ||
    format.sampleRate <= 0 ||
    format.sampleRate > 0x7fffffff
  ) {
    throw new WavError(
      'BAD_FORMAT',
      `sample rate must be a positive integer, got ${format.sampleRate}`,
    );
  }
  if (!Number.isInteger(format.channels) || format.channels < 1 || format.channels > 0xffff) {
    throw new WavError(
      'BAD_FORMAT',
      `channels must be an integer in 1..65535, got ${format.channels}`,
    );
  }
  if (sampleFormat !== 'pcm16' && sampleFormat !== 'float32') {
    throw new WavError('BAD_FORMAT', `unsupported sample format ${String(sampleFormat)}`);
  }
  return { sampleRate: format.sampleRate, channels: format.channels, sampleFormat };
}

/**
 * A canonical 44-byte WAV header for `dataBytes` bytes of samples. For a stream whose length
 * is not known yet pass `undefined`: the size fields then hold 0xFFFFFFFF, which players and
 * {@link decodeWav} read as "until the end of the stream".
 */
export function wavHeader(format: WavFormat, dataBytes?: number): Uint8Array {
  const f = checkFormat(format);
  const bits = bitsOf(f.sampleFormat);
  const blockAlign = f.channels * (bits / 8);
  if (dataBytes !== undefined) {
    if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > UNKNOWN_SIZE - 36 - 1) {
      throw new WavError('BAD_FORMAT', `data size ${dataBytes} does not fit a RIFF header`);
    }
    if (dataBytes % blockAlign !== 0) {
      throw new WavError('BAD_FORMAT', `data size ${dataBytes} is not a multiple of ${blockAlign}`);
    }
  }
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  const ascii = (offset: number, text: string): void => {
    for (let i = 0; i < text.length; i++) header[offset + i] = text.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, dataBytes === undefined ? UNKNOWN_SIZE : 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, f.sampleFormat === 'pcm16' ? WAVE_FORMAT_PCM : WAVE_FORMAT_IEEE_FLOAT, true);
  view.setUint16(22, f.channels, true);
  view.setUint32(24, f.sampleRate, true);
  view.setUint32(28, f.sampleRate * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, bits, true);
  ascii(36, 'data');
  view.setUint32(40, dataBytes === undefined ? UNKNOWN_SIZE : dataBytes, true);
  return header;
}

/**
 * Encodes interleaved samples as a WAV file. `Int16Array` samples are written as PCM16,
 * `Float32Array` samples as IEEE float32 (unless `format.sampleFormat` says `pcm16`, in which
 * case floats in [-1, 1] are converted, clipping outside that range).
 */
export function encodeWav(samples: Int16Array | Float32Array, format: WavFormat): Uint8Array {
  const sampleFormat =
    format.sampleFormat ?? (samples instanceof Float32Array ? 'float32' : 'pcm16');
  const f = checkFormat({ ...format, sampleFormat });
  if (samples.length % f.channels !== 0) {
    throw new WavError(
      'BAD_FORMAT',
      `${samples.length} samples is not a whole number of ${f.channels}-channel frames`,
    );
  }
  let body: Int16Array | Float32Array;
  if (sampleFormat === 'pcm16') {
    body = samples instanceof Int16Array ? samples : float32ToInt16(samples);
  } else {
    body = samples instanceof Float32Array ? samples : int16ToFloat32(samples);
  }
  const header = wavHeader(f, body.byteLength);
  const out = new Uint8Array(HEADER_BYTES + body.byteLength);
  out.set(header, 0);
  out.set(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), HEADER_BYTES);
  return out;
}

/**
 * Decodes a WAV file (PCM16 or float32, including WAVE_FORMAT_EXTENSIBLE wrappers of those).
 * Unknown chunks (`LIST`, `fact`, ...) are skipped. Throws {@link WavError} on anything else.
 */
export function decodeWav(input: Uint8Array, options: DecodeWavOptions = {}): DecodedWav {
  if (input.byteLength < 12) {
    throw new WavError(
      'TRUNCATED',
      `WAV needs at least 12 bytes of header, got ${input.byteLength}`,
    );
  }
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const tag = (offset: number): string =>
    String.fromCharCode(input[offset], input[offset + 1], input[offset + 2], input[offset + 3]);
  const riff = tag(0);
  if (riff !== 'RIFF') {
    throw new WavError(
      'NOT_RIFF',
      riff === 'RIFX' || riff === 'RF64'
        ? `${riff} files are not supported (only little-endian RIFF)`
        : 'not a RIFF file (missing "RIFF" magic)',
    );
  }
  if (tag(8) !== 'WAVE')
    throw new WavError('NOT_WAVE', `RIFF form type is "${tag(8)}", not "WAVE"`);

  let offset = 12;
  let fmt:
    | { formatTag: number; channels: number; sampleRate: number; blockAlign: number; bits: number }
    | undefined;
  while (offset < input.byteLength) {
    if (offset + 8 > input.byteLength) {
      throw new WavError('TRUNCATED', `WAV ends inside a chunk header at byte ${offset}`);
    }
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16) throw new WavError('BAD_FORMAT', `fmt chunk of ${size} bytes is too short`);
      if (body + 16 > input.byteLength)
        throw new WavError('TRUNCATED', 'WAV ends inside the fmt chunk');
      let formatTag = view.getUint16(body, true);
      if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40 || body + 40 > input.byteLength) {
          throw new WavError('TRUNCATED', 'WAVE_FORMAT_EXTENSIBLE fmt chunk is cut short');
        }
        // The sub-format GUID starts with the plain format tag.
        formatTag = view.getUint16(body + 24, true);
      }
      fmt = {
        formatTag,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        blockAlign: view.getUint16(body + 12, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (!fmt) throw new WavError('MISSING_FMT', 'data chunk comes before any fmt chunk');
      return decodeData(input, body, size, fmt, options);
    }
    if (size === UNKNOWN_SIZE) break;
    // Chunks are word-aligned: an odd-sized chunk is followed by a pad byte.
    offset = body + size + (size % 2);
  }
  throw new WavError(fmt ? 'MISSING_DATA' : 'MISSING_FMT', fmt ? 'no data chunk' : 'no fmt chunk');
}

function decodeData(
  input: Uint8Array,
  start: number,
  declared: number,
  fmt: {
    formatTag: number;
    channels: number;
    sampleRate: number;
    blockAlign: number;
    bits: number;
  },
  options: DecodeWavOptions,
): DecodedWav {
  let sampleFormat: WavSampleFormat;
  if (fmt.formatTag === WAVE_FORMAT_PCM && fmt.bits === 16) sampleFormat = 'pcm16';
  else if (fmt.formatTag === WAVE_FORMAT_IEEE_FLOAT && fmt.bits === 32) sampleFormat = 'float32';
  else {
    throw new WavError(
      'UNSUPPORTED_FORMAT',
      `unsupported WAV encoding: format tag 0x${fmt.formatTag.toString(16)}, ${fmt.bits} bits ` +
        '(supported: PCM 16-bit, IEEE float 32-bit)',
    );
  }
  if (fmt.channels < 1) throw new WavError('BAD_FORMAT', 'fmt chunk declares 0 channels');
  if (fmt.sampleRate < 1) throw new WavError('BAD_FORMAT', 'fmt chunk declares a 0 Hz sample rate');
  const bytesPerSample = fmt.bits / 8;
  if (fmt.blockAlign !== fmt.channels * bytesPerSample) {
    throw new WavError(
      'BAD_FORMAT',
      `block align ${fmt.blockAlign} does not match ${fmt.channels} channels of ${fmt.bits} bits`,
    );
  }
  const available = input.byteLength - start;
  let length = declared;
  if (declared === UNKNOWN_SIZE || declared === 0) {
    // Streaming writers leave the size open: take the rest, in whole frames.
    length = available - (available % fmt.blockAlign);
  } else if (declared > available) {
    if (!options.allowTruncated) {
      throw new WavError(
        'TRUNCATED',
        `data chunk declares ${declared} bytes but only ${available} are present`,
      );
    }
    length = available - (available % fmt.blockAlign);
  } else if (declared % fmt.blockAlign !== 0) {
    if (!options.allowTruncated) {
      throw new WavError(
        'TRUNCATED',
        `data chunk of ${declared} bytes ends inside a ${fmt.blockAlign}-byte sample frame`,
      );
    }
    length = declared - (declared % fmt.blockAlign);
  }
  // Copy so the typed array is aligned and independent of the caller's buffer. Not `.slice()`:
  // on a Node Buffer it returns a view into the shared pool, not a copy.
  const bytes = Uint8Array.prototype.slice.call(input, start, start + length);
  const samples =
    sampleFormat === 'pcm16'
      ? new Int16Array(bytes.buffer, 0, length / 2)
      : new Float32Array(bytes.buffer, 0, length / 4);
  const frames = samples.length / fmt.channels;
  return {
    sampleRate: fmt.sampleRate,
    channels: fmt.channels,
    sampleFormat,
    samples,
    frames,
    durationSeconds: frames / fmt.sampleRate,
  };
}
