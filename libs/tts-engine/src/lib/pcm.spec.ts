import { floatToPcm16 } from './pcm';

describe('floatToPcm16()', () => {
  it('normalises the peak to full scale, as Piper does per sentence', () => {
    expect(Array.from(floatToPcm16(Float32Array.from([0.25, -0.5, 0.1]), true))).toEqual([
      16384, -32767, 6553,
    ]);
  });

  it('keeps near-silence quiet instead of amplifying it to full scale', () => {
    expect(Array.from(floatToPcm16(Float32Array.from([0.001, -0.002]), true))).toEqual([
      3277, -6553,
    ]);
    expect(Array.from(floatToPcm16(new Float32Array(3), true))).toEqual([0, 0, 0]);
  });

  it('converts as is without normalisation, clipping at ±1 and appending silence', () => {
    expect(Array.from(floatToPcm16(Float32Array.from([0.5, -2, 2, NaN]), false, 2))).toEqual([
      16384, -32768, 32767, 0, 0, 0,
    ]);
  });

  it('rounds half up like Math.round, and ignores NaN when finding the peak', () => {
    expect(
      Array.from(floatToPcm16(Float32Array.from([0.5, -0.5, 1.5, -1.5, -2.5]), false)),
    ).toEqual([16384, -16383, 32767, -32768, -32768]);
    expect(Array.from(floatToPcm16(Float32Array.from([NaN, 0.5, -0.25]), true))).toEqual([
      0, 32767, -16383,
    ]);
    const audio = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i * 0.37) * 0.8);
    const scale = 32767 / Math.max(...Array.from(audio, Math.abs));
    expect(Array.from(floatToPcm16(audio, true))).toEqual(
      Array.from(audio, (a) => Math.round(a * scale)),
    );
  });
});
