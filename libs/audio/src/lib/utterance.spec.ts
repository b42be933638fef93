import { type UtteranceEvent, UtteranceSegmenter } from './utterance';

const RATE = 16_000;

function voiced(seconds: number, amp = 0.3): Float32Array {
  const out = new Float32Array(Math.round(RATE * seconds));
  for (let i = 0; i < out.length; i++) {
    const t = i / RATE;
    out[i] = amp * (0.6 + 0.4 * Math.sin(2 * Math.PI * 4 * t)) * Math.sin(2 * Math.PI * 200 * t);
  }
  return out;
}

function feed(seg: UtteranceSegmenter, audio: Float32Array, chunk = 320): UtteranceEvent[] {
  const out: UtteranceEvent[] = [];
  for (let off = 0; off < audio.length; off += chunk)
    out.push(...seg.push(audio.subarray(off, off + chunk)));
  return out;
}

describe('UtteranceSegmenter', () => {
  it('reports start, a partial per second of speech, then the end with the whole utterance', () => {
    const seg = new UtteranceSegmenter({ segmenter: { hangoverMs: 400 }, partialIntervalMs: 1000 });
    const events = [
      ...feed(seg, new Float32Array(RATE)),
      ...feed(seg, voiced(2.2)),
      ...feed(seg, new Float32Array(RATE)),
    ];
    expect(events.map((e) => e.type)).toEqual(['start', 'partial', 'partial', 'end']);
    const [start, p0, p1, end] = events;
    expect(start).toMatchObject({ type: 'start', speechStartMs: 1000 });
    expect(p0).toMatchObject({ type: 'partial', seq: 0 });
    expect(p1).toMatchObject({ type: 'partial', seq: 1 });
    if (p0?.type !== 'partial' || p1?.type !== 'partial' || end?.type !== 'end') throw new Error();
    expect(p0.audio.length / RATE).toBeCloseTo(1, 1);
    expect(p1.audio.length / RATE).toBeCloseTo(2, 1);
    expect(p1.endMs - p1.startMs).toBeCloseTo((p1.audio.length * 1000) / RATE, 6);
    expect(end.reason).toBe('silence');
    // pre-roll (200 ms) + speech (2.2 s) + tail (150 ms)
    expect(end.audio.length / RATE).toBeCloseTo(2.55, 1);
    expect(seg.inUtterance).toBe(false);
  });

  it('holds partials back while speech pauses (hangover), so the final does not queue behind one', () => {
    const seg = new UtteranceSegmenter({ segmenter: { hangoverMs: 900 }, partialIntervalMs: 1000 });
    // Utterance starts at 0.8 s (pre-roll); speech until 3.2 s; partials due at 1.8, 2.8, 3.8 s:
    // the last falls in the hangover and is not sent.
    const events = [
      ...feed(seg, new Float32Array(RATE)),
      ...feed(seg, voiced(2.2)),
      ...feed(seg, new Float32Array(RATE)),
    ];
    expect(events.map((e) => e.type)).toEqual(['start', 'partial', 'partial', 'end']);
  });

  it('sends no partials with partialIntervalMs 0, and flush() ends an open utterance', () => {
    const seg = new UtteranceSegmenter({ partialIntervalMs: 0 });
    const events = [...feed(seg, voiced(3)), ...seg.flush()];
    expect(events.map((e) => e.type)).toEqual(['start', 'end']);
    expect(events[1]).toMatchObject({ type: 'end', reason: 'flush' });
  });

  it('one large push yields at most one partial', () => {
    const seg = new UtteranceSegmenter({ partialIntervalMs: 500 });
    const events = seg.push(voiced(3));
    expect(events.filter((e) => e.type === 'partial')).toHaveLength(1);
    expect(feed(seg, voiced(0.5)).filter((e) => e.type === 'partial')).toHaveLength(1);
  });

  it('silence alone produces nothing', () => {
    const seg = new UtteranceSegmenter();
    expect(feed(seg, new Float32Array(RATE * 3))).toEqual([]);
    expect(seg.positionMs).toBe(3000);
  });
});
