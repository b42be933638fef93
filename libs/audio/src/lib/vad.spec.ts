import { EnergyVad, findSpeech } from './vad-energy';
import { type VadEndEvent, type VadEvent, VadSegmenter } from './vad';

const RATE = 16000;

/** Deterministic pseudo-random noise at roughly `amp` RMS × √3. */
function noise(seconds: number, amp: number, seed = 1): Float32Array {
  let s = seed;
  const out = new Float32Array(Math.round(RATE * seconds));
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = amp * ((s / 2 ** 32) * 2 - 1);
  }
  return out;
}

/** A speech-like burst: 200 Hz tone with 4 Hz syllable modulation, never fully silent. */
function voiced(seconds: number, amp = 0.3): Float32Array {
  const out = new Float32Array(Math.round(RATE * seconds));
  for (let i = 0; i < out.length; i++) {
    const t = i / RATE;
    out[i] = amp * (0.6 + 0.4 * Math.sin(2 * Math.PI * 4 * t)) * Math.sin(2 * Math.PI * 200 * t);
  }
  return out;
}

function join(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function run(
  audio: Float32Array,
  chunk: number,
  seg = new VadSegmenter(new EnergyVad()),
): VadEvent[] {
  const events: VadEvent[] = [];
  for (let off = 0; off < audio.length; off += chunk)
    events.push(...seg.push(audio.subarray(off, off + chunk)));
  events.push(...seg.flush());
  return events;
}

describe('EnergyVad', () => {
  it('classify() calls digital silence and faint noise silence, a -15 dBFS tone speech', () => {
    const vad = new EnergyVad();
    expect(vad.classify(new Float32Array(320)).speech).toBe(false);
    expect(vad.classify(noise(0.02, 0.001)).speech).toBe(false);
    const d = vad.classify(voiced(0.02, 0.3));
    expect(d.speech).toBe(true);
    expect(d.energyDb).toBeGreaterThan(-20);
  });

  it('adapts to steady background noise so it stops counting as speech', () => {
    const vad = new EnergyVad({ noiseRiseDbPerSec: 6 });
    const hum = noise(20, 0.05); // about -31 dBFS: above the -50 dBFS absolute threshold
    const decisions: boolean[] = [];
    for (let off = 0; off < hum.length; off += 320)
      decisions.push(vad.classify(hum.subarray(off, off + 320)).speech);
    expect(decisions.slice(0, 5).every(Boolean)).toBe(true);
    expect(decisions.slice(-50).some(Boolean)).toBe(false);
    expect(vad.noiseFloorDb).toBeGreaterThan(-40);
    vad.reset();
    expect(vad.noiseFloorDb).toBe(-70);
  });

  it('rejects frames of the wrong size and frame lengths that are not whole samples', () => {
    expect(() => new EnergyVad().classify(new Float32Array(100))).toThrow(RangeError);
    expect(() => new EnergyVad({ sampleRate: 16000, frameMs: 0.01 })).toThrow(RangeError);
  });
});

describe('VadSegmenter', () => {
  const audio = join(new Float32Array(RATE), voiced(1.2), new Float32Array(RATE * 1.5));

  it('emits start and end around a burst of speech, with pre-roll and tail', () => {
    const events = run(audio, 320);
    expect(events.map((e) => e.type)).toEqual(['start', 'end']);
    const [start, end] = events as [Extract<VadEvent, { type: 'start' }>, VadEndEvent];
    expect(start.speechStartMs).toBe(1000);
    expect(start.startMs).toBe(800); // 200 ms pre-roll
    expect(end.reason).toBe('silence');
    expect(end.startMs).toBe(800);
    expect(end.endMs).toBe(2200 + 160); // last speech frame ends at 2200; 150 ms tail → 8 frames
    expect(end.audio.length).toBe(((end.endMs - end.startMs) * RATE) / 1000);
  });

  it('gives the same events whatever the chunk size', () => {
    const strip = (evs: VadEvent[]) =>
      evs.map((e) => (e.type === 'end' ? { ...e, audio: e.audio.length } : e));
    const ref = strip(run(audio, 320));
    for (const chunk of [1, 37, 1000, audio.length]) expect(strip(run(audio, chunk))).toEqual(ref);
  });

  it('does not start on a click shorter than minSpeechMs', () => {
    const click = join(new Float32Array(RATE), voiced(0.04), new Float32Array(RATE));
    expect(run(click, 320)).toEqual([]);
  });

  it('keeps one utterance across pauses shorter than the hangover and splits on longer ones', () => {
    const short = join(
      voiced(0.5),
      new Float32Array(RATE * 0.3),
      voiced(0.5),
      new Float32Array(RATE),
    );
    expect(run(short, 320).filter((e) => e.type === 'end')).toHaveLength(1);
    const long = join(
      voiced(0.5),
      new Float32Array(RATE * 0.8),
      voiced(0.5),
      new Float32Array(RATE),
    );
    expect(run(long, 320).filter((e) => e.type === 'end')).toHaveLength(2);
  });

  it('ends an utterance at maxUtteranceMs and continues with a new one while speech goes on', () => {
    const seg = new VadSegmenter(new EnergyVad(), { maxUtteranceMs: 1000 });
    const events = run(join(voiced(2.5), new Float32Array(RATE)), 320, seg);
    const ends = events.filter((e): e is VadEndEvent => e.type === 'end');
    expect(ends.map((e) => e.reason)).toEqual(['max-length', 'max-length', 'silence']);
    expect(ends[0].endMs).toBe(ends[1].startMs);
    expect(ends[0].endMs - ends[0].startMs).toBe(1000);
  });

  it('flush() ends an utterance in progress and currentAudio() exposes it meanwhile', () => {
    const seg = new VadSegmenter(new EnergyVad());
    const events = seg.push(join(new Float32Array(3200), voiced(0.5)));
    expect(events.map((e) => e.type)).toEqual(['start']);
    expect(seg.inUtterance).toBe(true);
    expect(seg.currentAudio()?.length).toBeGreaterThan(RATE * 0.5);
    const flushed = seg.flush();
    expect(flushed).toHaveLength(1);
    expect((flushed[0] as VadEndEvent).reason).toBe('flush');
    expect(seg.inUtterance).toBe(false);
    expect(seg.positionMs).toBe(0);
  });

  it('reports every classified frame to onFrame with its stream time', () => {
    const frames: number[] = [];
    const seg = new VadSegmenter(new EnergyVad(), { onFrame: (f) => frames.push(f.startMs) });
    seg.push(new Float32Array(1000));
    expect(frames).toEqual([0, 20, 40]);
  });
});

describe('findSpeech()', () => {
  it('finds nothing in silence or faint noise', () => {
    expect(findSpeech(new Float32Array(RATE * 2))).toBeUndefined();
    expect(findSpeech(noise(2, 0.001))).toBeUndefined();
  });

  it('spans every utterance of a clip, with pre-roll and tail, on the clip timeline', () => {
    const span = findSpeech(
      join(noise(1, 0.001), voiced(1), noise(1.5, 0.001), voiced(0.5), noise(1, 0.001)),
    );
    expect(span?.utterances).toBe(2);
    expect(span?.startMs).toBeGreaterThanOrEqual(700);
    expect(span?.startMs).toBeLessThanOrEqual(1000);
    expect(span?.endMs).toBeGreaterThanOrEqual(4000);
    expect(span?.endMs).toBeLessThanOrEqual(4300);
    expect(span?.speechMs).toBeLessThan((span?.endMs ?? 0) - (span?.startMs ?? 0));
  });

  it('counts speech running to the end of the clip', () => {
    const span = findSpeech(join(noise(0.5, 0.001), voiced(1)));
    expect(span?.utterances).toBe(1);
    expect(span?.endMs).toBeCloseTo(1500, -2);
  });
});
