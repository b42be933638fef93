/**
 * PCM sample-format helpers. Parley's internal format is Float32 in [-1, 1] (what whisper.cpp and
 * the resampler take); the wire formats are signed 16-bit little-endian (WAV, RTP/Opus decoders).
 */

/** Int16 full scale: -32768 maps to -1.0 exactly, 32767 to just under 1.0. */
const INT16_SCALE = 32768;

/** Converts signed 16-bit samples to Float32 in [-1, 1). */
export function int16ToFloat32(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i] / INT16_SCALE;
  return out;
}

/**
 * Converts Float32 samples to signed 16-bit, clipping to the representable range and rounding to
 * the nearest integer (truncation would add a DC bias of half an LSB). NaN becomes 0.
 */
export function float32ToInt16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i] * INT16_SCALE);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v || 0;
  }
  return out;
}

/**
 * Reads signed 16-bit little-endian PCM from bytes. Copies, so the input may have any byte offset
 * (a Node `Buffer` slice usually is not 2-byte aligned, which an `Int16Array` view requires).
 * A trailing odd byte is ignored.
 */
export function bytesToInt16(bytes: Uint8Array): Int16Array {
  const n = bytes.length >> 1;
  const out = new Int16Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
  return out;
}

/** Writes signed 16-bit samples as little-endian bytes. */
export function int16ToBytes(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(2 * i, samples[i], true);
  return out;
}

/** Signed 16-bit little-endian bytes straight to Float32 in [-1, 1). */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  return int16ToFloat32(bytesToInt16(bytes));
}

/** Float32 samples straight to signed 16-bit little-endian bytes. */
export function float32ToBytes(samples: Float32Array): Uint8Array {
  return int16ToBytes(float32ToInt16(samples));
}

/** Averages interleaved channels into mono (`channels` = 1 returns a copy). */
export function downmixToMono(interleaved: Float32Array, channels: number): Float32Array {
  if (!Number.isInteger(channels) || channels < 1) {
    throw new RangeError(`channels must be a positive integer, got ${channels}`);
  }
  const frames = Math.floor(interleaved.length / channels);
  const out = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += interleaved[f * channels + c];
    out[f] = sum / channels;
  }
  return out;
}

/** Concatenates sample chunks into one array. */
export function concatFloat32(chunks: readonly Float32Array[]): Float32Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Float32Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Root-mean-square level of `samples` (0 for an empty array). */
export function rms(samples: Float32Array, start = 0, end = samples.length): number {
  const n = end - start;
  if (n <= 0) return 0;
  let sum = 0;
  for (let i = start; i < end; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / n);
}

/** Largest absolute sample value (0 for an empty array; NaN if any sample is NaN). */
export function peak(samples: Float32Array): number {
  let p = 0;
  for (let i = 0; i < samples.length; i++) {
    const a = Math.abs(samples[i]);
    if (a > p || Number.isNaN(a)) p = a;
  }
  return p;
}

/** Level in dB relative to full scale; silence is clamped to `floorDb`. */
export function toDbfs(level: number, floorDb = -120): number {
  return level > 0 ? Math.max(floorDb, 20 * Math.log10(level)) : floorDb;
}

/** Duration in milliseconds of `samples` at `sampleRate`. */
export function durationMs(samples: { length: number }, sampleRate: number): number {
  return (samples.length * 1000) / sampleRate;
}
