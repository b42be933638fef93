import { Resampler, resample } from './resample';

function sine(freq: number, rate: number, seconds: number, amp = 0.5): Float32Array {
  const n = Math.round(rate * seconds);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

/** Amplitude of `freq` in `x` (single-bin DFT over the middle, away from edge effects). */
function toneAmplitude(x: Float32Array, freq: number, rate: number): number {
  const from = Math.floor(x.length * 0.2);
  const to = Math.floor(x.length * 0.8);
  let re = 0;
  let im = 0;
  for (let i = from; i < to; i++) {
    const a = (2 * Math.PI * freq * i) / rate;
    re += x[i] * Math.cos(a);
    im -= x[i] * Math.sin(a);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}

describe('resample', () => {
  it('resample() returns ceil(n × to / from) samples for common ratios', () => {
    for (const [from, to, n] of [
      [48000, 16000, 48000],
      [48000, 16000, 959],
      [44100, 16000, 44100],
      [16000, 48000, 321],
      [22050, 16000, 10001],
      [8000, 16000, 80],
    ]) {
      expect(resample(new Float32Array(n), from, to).length).toBe(Math.ceil((n * to) / from));
      expect(Resampler.outputLength(n, from, to)).toBe(Math.ceil((n * to) / from));
    }
  });

  it('keeps a 1 kHz tone at its level when converting 48 kHz to 16 kHz', () => {
    const out = resample(sine(1000, 48000, 0.5), 48000, 16000);
    expect(toneAmplitude(out, 1000, 16000)).toBeCloseTo(0.5, 2);
  });

  it('keeps speech-band tones flat to within 0.1 dB up to 6 kHz (48 kHz → 16 kHz)', () => {
    for (const f of [100, 3000, 6000]) {
      const a = toneAmplitude(resample(sine(f, 48000, 0.5), 48000, 16000), f, 16000);
      expect(Math.abs(20 * Math.log10(a / 0.5))).toBeLessThan(0.1);
    }
  });

  it('removes content above the new Nyquist frequency instead of aliasing it', () => {
    // 10 kHz at 48 kHz would alias to 6 kHz at 16 kHz without the low-pass filter.
    const out = resample(sine(10000, 48000, 0.5), 48000, 16000);
    const aliased = toneAmplitude(out, 6000, 16000);
    expect(20 * Math.log10(aliased / 0.5)).toBeLessThan(-70);
  });

  it('compensates the filter delay: an impulse stays at the same time', () => {
    const x = new Float32Array(48000);
    x[30000] = 1;
    const y = resample(x, 48000, 16000);
    let best = 0;
    for (let i = 1; i < y.length; i++) if (Math.abs(y[i]) > Math.abs(y[best])) best = i;
    expect(best).toBe(10000);
  });

  it('upsamples 16 kHz to 48 kHz keeping a 1 kHz tone', () => {
    const out = resample(sine(1000, 16000, 0.5), 16000, 48000);
    expect(toneAmplitude(out, 1000, 48000)).toBeCloseTo(0.5, 2);
  });

  it('converts 44.1 kHz to 16 kHz (ratio 160/441) keeping a 440 Hz tone', () => {
    const out = resample(sine(440, 44100, 0.5), 44100, 16000);
    expect(toneAmplitude(out, 440, 16000)).toBeCloseTo(0.5, 2);
  });

  it('Resampler gives the same output streamed in uneven chunks as in one call', () => {
    const x = sine(700, 48000, 0.3);
    for (let i = 0; i < x.length; i++) x[i] += 0.1 * Math.sin(i * 0.37);
    const whole = resample(x, 48000, 16000);
    const r = new Resampler(48000, 16000);
    const parts: number[] = [];
    let off = 0;
    const sizes = [1, 7, 960, 3, 480, 1000, 2];
    for (let k = 0; off < x.length; k++) {
      const n = sizes[k % sizes.length];
      parts.push(...r.process(x.subarray(off, off + n)));
      off += n;
    }
    parts.push(...r.flush());
    expect(parts.length).toBe(whole.length);
    let maxDiff = 0;
    for (let i = 0; i < whole.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(parts[i] - whole[i]));
    expect(maxDiff).toBeLessThan(1e-6);
  });

  it('Resampler.process() emits output as input arrives (20 ms frames in, 20 ms frames out)', () => {
    const r = new Resampler(48000, 16000);
    let out = 0;
    for (let i = 0; i < 50; i++) out += r.process(new Float32Array(960)).length;
    // Everything except the filter's look-ahead (a few ms) is out before flush().
    expect(out).toBeGreaterThan(16000 - 100);
    expect(out + r.flush().length).toBe(16000);
  });

  it('returns a copy when the rates are equal and rejects invalid rates', () => {
    const x = Float32Array.from([1, 2, 3]);
    const y = resample(x, 16000, 16000);
    expect(y).toEqual(x);
    expect(y).not.toBe(x);
    expect(() => new Resampler(0, 16000)).toThrow(RangeError);
    expect(() => new Resampler(44100.5, 16000)).toThrow(RangeError);
    expect(() => new Resampler(48000, 16000, { rolloff: 1.5 })).toThrow(RangeError);
  });

  it('Resampler.process() after flush() throws, reset() starts a new stream', () => {
    const r = new Resampler(48000, 16000);
    r.process(new Float32Array(480));
    r.flush();
    expect(() => r.process(new Float32Array(1))).toThrow(/after flush/);
    r.reset();
    expect(r.process(new Float32Array(4800)).length + r.flush().length).toBe(1600);
  });
});
