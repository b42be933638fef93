/**
 * Float model output to 16-bit PCM. With `normalize`, scales so the peak reaches full range, as
 * Piper does per sentence (a peak under 0.01 is treated as 0.01 so near-silence stays quiet);
 * without, converts as is, clipping at ±1. `silenceSamples` zero samples are appended.
 */
export function floatToPcm16(
  audio: Float32Array,
  normalize: boolean,
  silenceSamples = 0,
): Int16Array {
  let scale = 32767;
  if (normalize) {
    let peak = 0;
    for (let i = 0; i < audio.length; i++) {
      const a = Math.abs(audio[i]);
      if (a > peak) peak = a;
    }
    // piper's C++ rule: near-silence is not blown up to full scale.
    scale = 32767 / Math.max(0.01, peak);
  }
  const out = new Int16Array(audio.length + silenceSamples);
  for (let i = 0; i < audio.length; i++) {
    const v = Math.round(audio[i] * scale);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : Number.isNaN(v) ? 0 : v;
  }
  return out;
}
