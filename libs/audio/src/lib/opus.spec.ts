import { createOpusDecoder, createOpusEncoder, OpusError, opusPacketSamples } from './opus';

const RATE = 48_000;
const FRAME = 960;

function tone(samples: number, hz: number, amp = 8000): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++)
    out[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / RATE));
  return out;
}

/** Best normalised cross-correlation of `b` against `a` over lags 0..maxLag. */
function bestCorrelation(a: Int16Array, b: Int16Array, maxLag: number): { r: number; lag: number } {
  let best = { r: -1, lag: 0 };
  const n = Math.min(a.length, b.length) - maxLag;
  for (let lag = 0; lag <= maxLag; lag++) {
    let c = 0;
    let ea = 0;
    let eb = 0;
    for (let i = 0; i < n; i++) {
      const x = a[i] ?? 0;
      const y = b[i + lag] ?? 0;
      c += x * y;
      ea += x * x;
      eb += y * y;
    }
    const r = c / Math.sqrt(ea * eb || 1);
    if (r > best.r) best = { r, lag };
  }
  return best;
}

function codec(frames: Int16Array[]): Int16Array {
  const enc = createOpusEncoder();
  const dec = createOpusDecoder();
  const out = new Int16Array(frames.length * FRAME);
  frames.forEach((f, i) => out.set(dec.decode(enc.encode(f)), i * FRAME));
  enc.close();
  dec.close();
  return out;
}

describe('Opus codec (opusscript backend)', () => {
  it('encode() then decode() gives back the tone, delayed by the codec look-ahead', () => {
    const input = tone(FRAME * 50, 440);
    const frames = Array.from({ length: 50 }, (_, i) => input.subarray(i * FRAME, (i + 1) * FRAME));
    const output = codec(frames);
    expect(output.length).toBe(input.length);
    const { r, lag } = bestCorrelation(input.subarray(9600), output.subarray(9600), 1000);
    expect(r).toBeGreaterThan(0.99);
    expect(lag).toBeGreaterThan(0);
  });

  it('a 20 ms 48 kHz packet is a single-frame TOC that says 960 samples', () => {
    const enc = createOpusEncoder({ bitrate: 24_000 });
    const packet = enc.encode(tone(FRAME, 300));
    enc.close();
    expect(packet.length).toBeGreaterThan(1);
    expect((packet[0] ?? 0xff) & 3).toBe(0);
    expect(opusPacketSamples(packet)).toBe(960);
    expect(opusPacketSamples(packet, 16_000)).toBe(320);
  });

  it('opusPacketSamples() reads TOC configs and frame counts (RFC 6716 §3.1) and rejects malformed packets', () => {
    expect(opusPacketSamples(Uint8Array.of(1 << 3))).toBe(960); // SILK NB 20 ms
    expect(opusPacketSamples(Uint8Array.of(3 << 3))).toBe(2880); // SILK 60 ms
    expect(opusPacketSamples(Uint8Array.of((12 << 3) | 1))).toBe(960); // hybrid 10 ms × 2
    expect(opusPacketSamples(Uint8Array.of(16 << 3))).toBe(120); // CELT 2.5 ms
    expect(opusPacketSamples(Uint8Array.of((31 << 3) | 3, 3))).toBe(2880); // CELT 20 ms × 3
    expect(opusPacketSamples(Uint8Array.of((31 << 3) | 3, 7))).toBeUndefined(); // 140 ms
    expect(opusPacketSamples(Uint8Array.of((31 << 3) | 3, 0))).toBeUndefined();
    expect(opusPacketSamples(Uint8Array.of((31 << 3) | 3))).toBeUndefined();
    expect(opusPacketSamples(new Uint8Array(0))).toBeUndefined();
  });

  it('decode() of a corrupt or empty packet throws BAD_PACKET and the decoder keeps working', () => {
    const enc = createOpusEncoder();
    const dec = createOpusDecoder();
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(OpusError);
        return (err as OpusError).code;
      }
      return 'none';
    };
    expect(code(() => dec.decode(new Uint8Array(0)))).toBe('BAD_PACKET');
    expect(code(() => dec.decode(Uint8Array.of(0xff, 0xff, 0xff)))).toBe('BAD_PACKET');
    expect(dec.decode(enc.encode(tone(FRAME, 440))).length).toBe(FRAME);
    expect(code(() => enc.encode(new Int16Array(100)))).toBe('BAD_FRAME');
    enc.close();
    dec.close();
    enc.close();
    expect(code(() => enc.encode(tone(FRAME, 440)))).toBe('CLOSED');
    expect(code(() => dec.conceal(960))).toBe('CLOSED');
  });

  it('conceal() extrapolates the signal for a lost packet, then fades out', () => {
    const enc = createOpusEncoder();
    const dec = createOpusDecoder();
    const input = tone(FRAME * 20, 440);
    for (let i = 0; i < 20; i++) dec.decode(enc.encode(input.subarray(i * FRAME, (i + 1) * FRAME)));
    const energy = (s: Int16Array) => s.reduce((a, x) => a + x * x, 0) / s.length;
    const first = dec.conceal(FRAME);
    expect(first.length).toBe(FRAME);
    expect(Math.sqrt(energy(first))).toBeGreaterThan(1000);
    let last = first;
    for (let i = 0; i < 15; i++) last = dec.conceal(FRAME);
    expect(energy(last)).toBeLessThan(energy(first) / 10);
    expect(dec.conceal(0).length).toBe(0);
    enc.close();
    dec.close();
  });
});
