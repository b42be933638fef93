import { OpusRtpReceiver, OpusRtpSender } from './rtp-opus';
import { parseRtp, serializeRtp } from './rtp';
import { rms } from './pcm';

const RATE = 48_000;

function tone(seconds: number, hz = 440, amp = 0.3): Float32Array {
  const out = new Float32Array(Math.round(RATE * seconds));
  for (let i = 0; i < out.length; i++) out[i] = amp * Math.sin((2 * Math.PI * hz * i) / RATE);
  return out;
}

function packets(seconds: number, start = { seq: 65500, ts: 0xffff0000 }): Uint8Array[] {
  const tx = new OpusRtpSender({
    ssrc: 42,
    payloadType: 100,
    sequenceNumber: start.seq,
    timestamp: start.ts,
  });
  // Odd chunk sizes: framing must not depend on them.
  const pcm = tone(seconds);
  const out: Uint8Array[] = [];
  for (let off = 0; off < pcm.length; off += 777)
    out.push(...tx.push(pcm.subarray(off, off + 777)));
  out.push(...tx.end());
  tx.close();
  return out;
}

function receive(list: Uint8Array[], rx = new OpusRtpReceiver()): Float32Array {
  const parts = list.map((p) => rx.push(p));
  parts.push(rx.flush());
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('OpusRtpSender / OpusRtpReceiver', () => {
  it('send then receive gives a continuous 48 kHz tone, through sequence and timestamp wrap-around', () => {
    const list = packets(1.01);
    expect(list.length).toBe(51); // 1.01 s = 50.5 frames, the last padded
    const parsed = list.map((p) => parseRtp(p));
    expect(parsed[0]?.marker).toBe(true);
    expect(parsed.slice(1).every((p) => !p.marker)).toBe(true);
    expect(parsed.map((p) => p.sequenceNumber).slice(34, 38)).toEqual([65534, 65535, 0, 1]);
    const rx = new OpusRtpReceiver();
    const pcm = receive(list, rx);
    expect(pcm.length).toBe(51 * 960);
    expect(rx.samplesOut).toBe(pcm.length);
    expect(rms(pcm, 4800)).toBeGreaterThan(0.15);
    expect(rx.stats).toMatchObject({ lost: 0, concealedSamples: 0, silenceSamples: 0 });
  });

  it('reordered packets decode exactly as in-order ones', () => {
    const list = packets(0.5);
    const shuffled = [...list];
    for (let i = 2; i + 1 < shuffled.length; i += 5) {
      shuffled.splice(i, 2, list[i + 1] as Uint8Array, list[i] as Uint8Array);
    }
    const rx = new OpusRtpReceiver();
    const a = receive(shuffled, rx);
    const b = receive(list);
    expect(a.length).toBe(b.length);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(rx.stats.reordered).toBeGreaterThan(0);
  });

  it('lost packets are concealed, so the timeline stays continuous', () => {
    const list = packets(1);
    const kept = list.filter((_, i) => i !== 10 && i !== 20 && i !== 21);
    const rx = new OpusRtpReceiver();
    const pcm = receive(kept, rx);
    expect(pcm.length).toBe(50 * 960);
    expect(rx.stats.lost).toBe(3);
    expect(rx.stats.concealedSamples).toBe(3 * 960);
    // PLC continues the tone rather than leaving a hole.
    expect(rms(pcm, 10 * 960, 11 * 960)).toBeGreaterThan(0.05);
  });

  it('a timestamp jump without lost packets (DTX, a paused sender) becomes silence, capped at maxGapMs', () => {
    const tx = new OpusRtpSender({ ssrc: 1, payloadType: 100 });
    const list = tx.push(tone(0.2));
    tx.skip(RATE / 2);
    list.push(...tx.push(tone(0.2)));
    tx.skip(RATE * 10);
    list.push(...tx.push(tone(0.2)));
    const rx = new OpusRtpReceiver({ maxGapMs: 1000 });
    const pcm = receive(list, rx);
    expect(rx.stats.silenceSamples).toBe(RATE / 2 + RATE);
    expect(pcm.length).toBe(3 * 0.2 * RATE + RATE / 2 + RATE);
    expect(rms(pcm, 0.2 * RATE + 100, 0.7 * RATE - 100)).toBe(0);
    expect(rx.stats.lost).toBe(0);
  });

  it('advance() fills silence while no packets come; audio for that time is trimmed, not doubled', () => {
    const list = packets(0.4);
    const rx = new OpusRtpReceiver();
    let n = 0;
    for (const p of list.slice(0, 10)) n += rx.push(p).length;
    n += rx.advance(960 * 3).length; // 60 ms of the next 10 packets' time already filled
    for (const p of list.slice(10)) n += rx.push(p).length;
    n += rx.flush().length;
    expect(n).toBe(list.length * 960);
    expect(rx.samplesOut).toBe(n);
    expect(rx.stats.trimmedSamples).toBe(960 * 3);
    const { decodedSamples, concealedSamples, silenceSamples } = rx.stats;
    expect(decodedSamples + concealedSamples + silenceSamples).toBe(n);
  });

  it('a sender that restarts its timestamps far back is resynchronised, not trimmed away', () => {
    const a = packets(0.2, { seq: 100, ts: 1_000_000 });
    const b = packets(0.2, { seq: 110, ts: 10 });
    const rx = new OpusRtpReceiver();
    expect(receive([...a, ...b], rx).length).toBe(20 * 960);
  });

  it('garbage and corrupt payloads are counted, never thrown', () => {
    const rx = new OpusRtpReceiver({ payloadType: 100 });
    const good = packets(0.1, { seq: 1, ts: 0 });
    let n = rx.push(good[0] ?? new Uint8Array(0)).length;
    expect(rx.push(Uint8Array.of(1, 2, 3)).length).toBe(0);
    expect(
      rx.push(
        serializeRtp({
          payloadType: 96,
          sequenceNumber: 2,
          timestamp: 960,
          ssrc: 42,
          payload: Uint8Array.of(8),
        }),
      ).length,
    ).toBe(0);
    const corrupt = serializeRtp({
      payloadType: 100,
      sequenceNumber: 2,
      timestamp: 960,
      ssrc: 42,
      payload: Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff),
    });
    n += rx.push(corrupt).length;
    for (const p of good.slice(2)) n += rx.push(p).length;
    expect(n).toBe(5 * 960);
    expect(rx.stats.parseErrors).toBe(2);
    expect(rx.stats.decodeErrors + rx.stats.decodedSamples / 960).toBe(5);
    expect(rx.stats.decodedSamples + rx.stats.concealedSamples).toBe(n);
    rx.close();
    expect(rx.push(good[3] ?? new Uint8Array(0)).length).toBe(0);
  });
});
