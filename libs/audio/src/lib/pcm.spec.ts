import {
  bytesToFloat32,
  bytesToInt16,
  concatFloat32,
  downmixToMono,
  durationMs,
  float32ToBytes,
  float32ToInt16,
  int16ToBytes,
  int16ToFloat32,
  peak,
  rms,
  toDbfs,
} from './pcm';

describe('pcm', () => {
  it('int16ToFloat32() then float32ToInt16() returns every 16-bit value unchanged', () => {
    const all = new Int16Array(65536);
    for (let i = 0; i < all.length; i++) all[i] = i - 32768;
    const back = float32ToInt16(int16ToFloat32(all));
    expect(back).toEqual(all);
  });

  it('int16ToFloat32() maps full scale to [-1, 1)', () => {
    const f = int16ToFloat32(Int16Array.from([-32768, 0, 32767, 16384]));
    expect(f[0]).toBe(-1);
    expect(f[1]).toBe(0);
    expect(f[2]).toBeCloseTo(32767 / 32768, 10);
    expect(f[3]).toBe(0.5);
  });

  it('float32ToInt16() clips out-of-range samples, rounds to nearest and maps NaN to 0', () => {
    const i = float32ToInt16(Float32Array.from([2, -2, 0.5, -0.5, NaN, 1e-5, -1e-5, 0.99999]));
    expect(Array.from(i)).toEqual([32767, -32768, 16384, -16384, 0, 0, 0, 32767]);
  });

  it('bytesToInt16() reads little-endian samples from an unaligned Buffer slice', () => {
    const raw = Buffer.from([0xff, 0x01, 0x00, 0xff, 0x7f, 0x00, 0x80, 0x99]);
    const unaligned = raw.subarray(1, 8); // odd byteOffset, odd length (trailing byte ignored)
    expect(Array.from(bytesToInt16(unaligned))).toEqual([1, 32767, -32768]);
  });

  it('int16ToBytes() and bytesToInt16() round-trip', () => {
    const s = Int16Array.from([0, 1, -1, 12345, -32768, 32767]);
    expect(bytesToInt16(int16ToBytes(s))).toEqual(s);
    expect(Array.from(int16ToBytes(Int16Array.from([0x1234])))).toEqual([0x34, 0x12]);
  });

  it('float32ToBytes() and bytesToFloat32() round-trip within one LSB', () => {
    const f = Float32Array.from([0, 0.25, -0.75, 0.999]);
    const back = bytesToFloat32(float32ToBytes(f));
    back.forEach((v, i) => expect(Math.abs(v - f[i])).toBeLessThanOrEqual(1 / 32768));
  });

  it('downmixToMono() averages interleaved channels and rejects a bad channel count', () => {
    const stereo = Float32Array.from([1, 0, 0.5, 0.5, -1, 1]);
    expect(Array.from(downmixToMono(stereo, 2))).toEqual([0.5, 0.5, 0]);
    expect(() => downmixToMono(stereo, 0)).toThrow(RangeError);
  });

  it('concatFloat32() joins chunks in order', () => {
    const out = concatFloat32([
      Float32Array.from([1, 2]),
      new Float32Array(0),
      Float32Array.from([3]),
    ]);
    expect(Array.from(out)).toEqual([1, 2, 3]);
  });

  it('rms(), peak() and toDbfs() measure levels', () => {
    const square = Float32Array.from([0.5, -0.5, 0.5, -0.5]);
    expect(rms(square)).toBeCloseTo(0.5, 10);
    expect(rms(new Float32Array(0))).toBe(0);
    expect(peak(Float32Array.from([0.1, -0.9, 0.3]))).toBeCloseTo(0.9, 6);
    expect(toDbfs(1)).toBe(0);
    expect(toDbfs(0.1)).toBeCloseTo(-20, 10);
    expect(toDbfs(0)).toBe(-120);
    expect(durationMs(new Float32Array(8000), 16000)).toBe(500);
  });
});
