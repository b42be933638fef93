import { WavError, decodeWav, encodeWav, wavHeader } from './wav';

function expectWavError(fn: () => unknown, code: WavError['code']): WavError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WavError);
    expect((err as WavError).code).toBe(code);
    expect((err as WavError).retryable).toBe(false);
    return err as WavError;
  }
  throw new Error(`expected WavError ${code}, nothing was thrown`);
}

/** Builds a RIFF file from raw chunks, for shapes the encoder never writes. */
function riff(...chunks: Array<[string, Uint8Array]>): Uint8Array {
  const parts: number[] = [];
  const pushTag = (t: string): void => {
    for (let i = 0; i < 4; i++) parts.push(t.charCodeAt(i));
  };
  const pushU32 = (v: number): void => {
    parts.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  };
  const body: number[] = [];
  for (const [id, data] of chunks) {
    for (let i = 0; i < 4; i++) body.push(id.charCodeAt(i));
    body.push(
      data.length & 0xff,
      (data.length >>> 8) & 0xff,
      (data.length >>> 16) & 0xff,
      data.length >>> 24,
    );
    body.push(...data);
    if (data.length % 2) body.push(0);
  }
  pushTag('RIFF');
  pushU32(4 + body.length);
  pushTag('WAVE');
  return Uint8Array.from([...parts, ...body]);
}

function fmtChunk(
  tag: number,
  channels: number,
  rate: number,
  bits: number,
  extensibleSub?: number,
): Uint8Array {
  const size = extensibleSub === undefined ? 16 : 40;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  const align = channels * (bits / 8);
  v.setUint16(0, tag, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, rate * align, true);
  v.setUint16(12, align, true);
  v.setUint16(14, bits, true);
  if (extensibleSub !== undefined) {
    v.setUint16(16, 22, true);
    v.setUint16(18, bits, true);
    v.setUint16(24, extensibleSub, true);
  }
  return b;
}

describe('wav', () => {
  it('encodeWav() writes a canonical 44-byte header followed by the PCM16 samples', () => {
    const pcm = Int16Array.from([0, 1, -1, 32767, -32768]);
    const wav = encodeWav(pcm, { sampleRate: 22050, channels: 1 });
    expect(wav.length).toBe(44 + 10);
    const v = new DataView(wav.buffer);
    expect(String.fromCharCode(...wav.slice(0, 4))).toBe('RIFF');
    expect(v.getUint32(4, true)).toBe(36 + 10);
    expect(String.fromCharCode(...wav.slice(8, 16))).toBe('WAVEfmt ');
    expect(v.getUint16(20, true)).toBe(1);
    expect(v.getUint32(24, true)).toBe(22050);
    expect(v.getUint32(28, true)).toBe(44100);
    expect(v.getUint16(32, true)).toBe(2);
    expect(v.getUint16(34, true)).toBe(16);
    expect(v.getUint32(40, true)).toBe(10);
    expect(v.getInt16(44 + 6, true)).toBe(32767);
  });

  it('decodeWav() returns exactly what encodeWav() encoded, for mono and stereo at any rate', () => {
    for (const [rate, channels] of [
      [8000, 1],
      [16000, 2],
      [44100, 2],
      [22050, 1],
    ]) {
      const pcm = Int16Array.from(
        { length: channels * 100 },
        (_, i) => ((i * 331) % 65536) - 32768,
      );
      const decoded = decodeWav(encodeWav(pcm, { sampleRate: rate, channels }));
      expect(decoded.sampleRate).toBe(rate);
      expect(decoded.channels).toBe(channels);
      expect(decoded.sampleFormat).toBe('pcm16');
      expect(decoded.frames).toBe(100);
      expect(decoded.durationSeconds).toBeCloseTo(100 / rate, 10);
      expect(Array.from(decoded.samples)).toEqual(Array.from(pcm));
    }
  });

  it('round-trips float32 WAV files', () => {
    const samples = Float32Array.from([0, 0.5, -0.25, 1, -1, 0.123456]);
    const wav = encodeWav(samples, { sampleRate: 48000, channels: 2 });
    expect(new DataView(wav.buffer).getUint16(20, true)).toBe(3);
    const decoded = decodeWav(wav);
    expect(decoded.sampleFormat).toBe('float32');
    expect(decoded.samples).toBeInstanceOf(Float32Array);
    expect(Array.from(decoded.samples)).toEqual(Array.from(samples));
  });

  it('encodeWav() converts floats to PCM16 when asked, clipping out-of-range values', () => {
    const wav = encodeWav(Float32Array.from([2, -2, 0.5, NaN]), {
      sampleRate: 16000,
      channels: 1,
      sampleFormat: 'pcm16',
    });
    expect(Array.from(decodeWav(wav).samples)).toEqual([32767, -32768, 16384, 0]);
  });

  it('decodeWav() skips unknown chunks, honours pad bytes and reads WAVE_FORMAT_EXTENSIBLE', () => {
    const data = new Uint8Array(Int16Array.from([5, -5, 7, -7]).buffer);
    const wav = riff(
      ['LIST', Uint8Array.from([1, 2, 3])],
      ['fmt ', fmtChunk(0xfffe, 2, 32000, 16, 1)],
      ['fact', Uint8Array.from([0, 0, 0, 0])],
      ['data', data],
    );
    const decoded = decodeWav(wav);
    expect(decoded.channels).toBe(2);
    expect(decoded.sampleRate).toBe(32000);
    expect(Array.from(decoded.samples)).toEqual([5, -5, 7, -7]);
  });

  it('decodeWav() reads a streamed WAV whose sizes are left open (0xFFFFFFFF) up to the end', () => {
    const header = wavHeader({ sampleRate: 22050, channels: 1 });
    const body = new Uint8Array(Int16Array.from([1, 2, 3]).buffer);
    const wav = new Uint8Array(header.length + body.length + 1);
    wav.set(header);
    wav.set(body, header.length);
    const decoded = decodeWav(wav);
    expect(Array.from(decoded.samples)).toEqual([1, 2, 3]);
  });

  it('decodeWav() works on a Buffer view at an odd byte offset', () => {
    const wav = encodeWav(Int16Array.from([100, -100]), { sampleRate: 8000, channels: 1 });
    const backing = new Uint8Array(wav.length + 1);
    backing.set(wav, 1);
    expect(Array.from(decodeWav(backing.subarray(1)).samples)).toEqual([100, -100]);
  });

  it('decodeWav() rejects a truncated file with TRUNCATED unless allowTruncated is set', () => {
    const wav = encodeWav(Int16Array.from([1, 2, 3, 4, 5, 6]), { sampleRate: 8000, channels: 2 });
    const cut = wav.subarray(0, wav.length - 3);
    expectWavError(() => decodeWav(cut), 'TRUNCATED');
    expect(Array.from(decodeWav(cut, { allowTruncated: true }).samples)).toEqual([1, 2, 3, 4]);
    expectWavError(() => decodeWav(wav.subarray(0, 8)), 'TRUNCATED');
    expectWavError(() => decodeWav(wav.subarray(0, 30)), 'TRUNCATED');
    expectWavError(() => decodeWav(wav.subarray(0, 40)), 'TRUNCATED');
  });

  it('decodeWav() names what is wrong with corrupt or foreign files', () => {
    expectWavError(
      () => decodeWav(new TextEncoder().encode('ID3\u0003 not a wav at all')),
      'NOT_RIFF',
    );
    const avi = encodeWav(Int16Array.from([1]), { sampleRate: 8000, channels: 1 });
    avi.set(new TextEncoder().encode('AVI '), 8);
    expectWavError(() => decodeWav(avi), 'NOT_WAVE');
    const rifx = encodeWav(Int16Array.from([1]), { sampleRate: 8000, channels: 1 });
    rifx.set(new TextEncoder().encode('RIFX'), 0);
    expect(expectWavError(() => decodeWav(rifx), 'NOT_RIFF').message).toMatch(/RIFX/);
    expectWavError(() => decodeWav(riff(['data', new Uint8Array(4)])), 'MISSING_FMT');
    expectWavError(() => decodeWav(riff(['fmt ', fmtChunk(1, 1, 8000, 16)])), 'MISSING_DATA');
    const pcm24 = riff(['fmt ', fmtChunk(1, 1, 8000, 24)], ['data', new Uint8Array(6)]);
    expect(expectWavError(() => decodeWav(pcm24), 'UNSUPPORTED_FORMAT').message).toMatch(/24 bits/);
    const alaw = riff(['fmt ', fmtChunk(6, 1, 8000, 8)], ['data', new Uint8Array(6)]);
    expectWavError(() => decodeWav(alaw), 'UNSUPPORTED_FORMAT');
    const badAlign = fmtChunk(1, 2, 8000, 16);
    new DataView(badAlign.buffer).setUint16(12, 3, true);
    expectWavError(
      () => decodeWav(riff(['fmt ', badAlign], ['data', new Uint8Array(8)])),
      'BAD_FORMAT',
    );
  });

  it('encodeWav() and wavHeader() refuse impossible formats with BAD_FORMAT', () => {
    expectWavError(
      () => encodeWav(new Int16Array(3), { sampleRate: 8000, channels: 2 }),
      'BAD_FORMAT',
    );
    expectWavError(
      () => encodeWav(new Int16Array(2), { sampleRate: 0, channels: 1 }),
      'BAD_FORMAT',
    );
    expectWavError(
      () => encodeWav(new Int16Array(2), { sampleRate: 8000, channels: 0 }),
      'BAD_FORMAT',
    );
    expectWavError(() => wavHeader({ sampleRate: 8000, channels: 2 }, 6), 'BAD_FORMAT');
  });
});

describe('decodeWav() on a Node Buffer', () => {
  it('reads the samples, not whatever else shares the Buffer pool', () => {
    const pcm = Int16Array.from([1, -2, 3, -4, 32767, -32768]);
    const wav = encodeWav(pcm, { sampleRate: 16000, channels: 1 });
    // A small Buffer lives at an offset inside Node's shared pool.
    const buf = Buffer.from(wav);
    expect(buf.byteOffset === 0 && buf.buffer.byteLength === buf.byteLength).toBe(false);
    expect(Array.from(decodeWav(buf).samples)).toEqual(Array.from(pcm));
  });
});
