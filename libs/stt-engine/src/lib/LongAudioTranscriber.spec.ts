import {
  type LongAudioEvent,
  type LongAudioProgressEvent,
  chooseCut,
  transcribeLong,
} from './LongAudioTranscriber';
import { type SttEngine, type SttResult, type SttTranscribeOptions } from './SttEngine';
import { SttEngineError } from './SttEngineError';

const RATE = 16000;

/** Records calls; answers one segment spanning the chunk (the real engine is in the int-spec). */
class FakeEngine implements SttEngine {
  readonly state = 'ready' as const;
  readonly model = undefined;
  readonly pending = 0;
  readonly calls: Array<{ samples: number; options: SttTranscribeOptions }> = [];
  load(): never {
    throw new Error('not used');
  }
  async close(): Promise<void> {
    return undefined;
  }
  async transcribe(pcm: Float32Array, options: SttTranscribeOptions = {}): Promise<SttResult> {
    this.calls.push({ samples: pcm.length, options });
    const t0 = options.offsetMs ?? 0;
    const t1 = t0 + (pcm.length * 1000) / RATE;
    return {
      segments: [{ t0, t1, text: `w${this.calls.length}`, tokens: 3, confidence: 0.5 }],
      text: `w${this.calls.length}`,
      language: 'en',
      tokens: 3,
      audioContext: 1500,
      timing: {
        queuedMs: 0,
        processMs: 10,
        totalMs: 10,
        audioMs: t1 - t0,
        realtimeFactor: 0.01,
        preemptions: 0,
      },
    };
  }
}

function loud(seconds: number): Float32Array {
  const out = new Float32Array(Math.round(RATE * seconds));
  for (let i = 0; i < out.length; i++)
    out[i] = 0.3 * Math.sin(i * 0.07) * (1 + 0.5 * Math.sin(i * 0.0013));
  return out;
}

async function collect(gen: AsyncGenerator<LongAudioEvent, unknown>): Promise<LongAudioEvent[]> {
  const events: LongAudioEvent[] = [];
  for await (const e of gen) events.push(e);
  return events;
}

describe('transcribeLong()', () => {
  it('covers the audio in contiguous windows of at most windowMs, as batch work with absolute times', async () => {
    const engine = new FakeEngine();
    const events = await collect(transcribeLong(engine, loud(70), { offsetMs: 5000 }));
    const progress = events.filter((e): e is LongAudioProgressEvent => e.type === 'progress');
    expect(progress).toHaveLength(3);
    expect(progress[0].windowStartMs).toBe(0);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i].windowStartMs).toBe(progress[i - 1].windowEndMs);
      expect(progress[i].processedMs).toBeGreaterThan(progress[i - 1].processedMs);
    }
    expect(progress.at(-1)).toMatchObject({ processedMs: 70_000, totalMs: 70_000, percent: 100 });
    for (const c of engine.calls) {
      expect(c.samples).toBeLessThanOrEqual(30 * RATE);
      expect(c.options).toMatchObject({ priority: 'batch', singleSegment: false });
    }
    const segments = events.flatMap((e) => (e.type === 'segment' ? [e] : []));
    expect(segments.map((s) => s.window)).toEqual([0, 1, 2]);
    expect(segments[0].segment.t0).toBe(5000);
    expect(segments[1].segment.t0).toBe(5000 + progress[0].windowEndMs);
    expect(segments[2].segment.t1).toBe(75_000);
  });

  it('yields each window’s segments before its progress event', async () => {
    const events = await collect(transcribeLong(new FakeEngine(), loud(40)));
    expect(events.map((e) => `${e.type}:${e.window}`)).toEqual([
      'segment:0',
      'progress:0',
      'segment:1',
      'progress:1',
    ]);
  });

  it('moves window cuts back into a quiet gap between words', async () => {
    const audio = loud(40);
    audio.fill(0, Math.round(28.4 * RATE), Math.round(28.6 * RATE));
    const progress = (await collect(transcribeLong(new FakeEngine(), audio))).filter(
      (e): e is LongAudioProgressEvent => e.type === 'progress',
    );
    expect(progress[0].windowEndMs).toBeGreaterThanOrEqual(28_400);
    expect(progress[0].windowEndMs).toBeLessThanOrEqual(28_600);
    expect(chooseCut(audio, 0, 30 * RATE, 0)).toBe(30 * RATE);
    expect(chooseCut(audio, 35 * RATE, 30 * RATE, 3 * RATE)).toBe(audio.length);
  });

  it('resumes from startMs and skips silent windows without calling the engine', async () => {
    const engine = new FakeEngine();
    const audio = new Float32Array(RATE * 65);
    audio.set(loud(20), 40 * RATE);
    const events = await collect(
      transcribeLong(engine, audio, { startMs: 10_000, cutSearchMs: 0 }),
    );
    const progress = events.filter((e): e is LongAudioProgressEvent => e.type === 'progress');
    expect(progress.map((p) => [p.windowStartMs, p.skipped])).toEqual([
      [10_000, true],
      [40_000, false],
    ]);
    expect(engine.calls).toHaveLength(1);
  });

  it('stops with ABORTED between windows once the signal aborts', async () => {
    const ac = new AbortController();
    const gen = transcribeLong(new FakeEngine(), loud(90), { signal: ac.signal });
    await gen.next();
    ac.abort();
    await expect(collect(gen)).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('rejects bad windows, offsets and audio with SttEngineError', async () => {
    const cases: Array<[Float32Array, object, string]> = [
      [loud(1), { windowMs: 40_000 }, 'BAD_OPTIONS'],
      [loud(1), { cutSearchMs: 30_000 }, 'BAD_OPTIONS'],
      [loud(1), { startMs: 5_000 }, 'BAD_OPTIONS'],
      [loud(1), { windowMs: 10_000, minWindowMs: 20_000 }, 'BAD_OPTIONS'],
      [loud(1), { minWindowMs: 500 }, 'BAD_OPTIONS'],
      [loud(1), { maxPreemptions: -1 }, 'BAD_OPTIONS'],
      [new Float32Array(0), {}, 'BAD_AUDIO'],
    ];
    for (const [audio, options, expected] of cases) {
      const err = await collect(transcribeLong(new FakeEngine(), audio, options)).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SttEngineError);
      expect((err as SttEngineError).code).toBe(expected);
    }
  });

  it('skips windows the speechGate rejects, like silent ones, and reports them skipped', async () => {
    const engine = new FakeEngine();
    let calls = 0;
    const events = await collect(
      transcribeLong(engine, loud(25), {
        windowMs: 10_000,
        cutSearchMs: 0,
        speechGate: () => calls++ !== 1,
      }),
    );
    const progress = events.filter((e): e is LongAudioProgressEvent => e.type === 'progress');
    expect(progress.map((p) => p.skipped)).toEqual([false, true, false]);
    expect(engine.calls).toHaveLength(2);
    expect(events.filter((e) => e.type === 'segment')).toHaveLength(2);
  });

  /** Rejects the calls whose index is listed the way WhisperEngine rejects a pre-empted call. */
  class PreemptingEngine extends FakeEngine {
    constructor(
      private readonly preempt: Set<number>,
      private readonly onCall?: () => void,
    ) {
      super();
    }
    override async transcribe(pcm: Float32Array, options: SttTranscribeOptions = {}) {
      const r = await super.transcribe(pcm, options);
      this.onCall?.();
      if (this.preempt.has(this.calls.length - 1)) {
        if (!options.preemptible) throw new Error('pre-empted a call that was not preemptible');
        throw new SttEngineError('ABORTED', 'pre-empted by a realtime call');
      }
      return r;
    }
  }

  it('a pre-empted window restarts at half its length (down to minWindowMs); unpre-empted windows double back to windowMs', async () => {
    const engine = new PreemptingEngine(new Set([0, 1, 2]));
    const events = await collect(
      transcribeLong(engine, loud(100), { cutSearchMs: 0, maxPreemptions: 3, minWindowMs: 4000 }),
    );
    expect(engine.calls.map((c) => [c.samples / RATE, c.options.preemptible])).toEqual([
      [30, true],
      [15, true],
      [7.5, true],
      [4, false], // pre-empted maxPreemptions times: runs to its end
      [4, true],
      [8, true],
      [16, true],
      [30, true],
      [30, true],
      [8, true],
    ]);
    const progress = events.filter((e): e is LongAudioProgressEvent => e.type === 'progress');
    expect(progress[0]).toMatchObject({ windowStartMs: 0, windowEndMs: 4000, preemptions: 3 });
    expect(progress[0].timing?.preemptions).toBe(3);
    expect(progress.slice(1).every((p) => p.preemptions === 0)).toBe(true);
    expect(progress.at(-1)?.processedMs).toBe(100_000);
  });

  it('without maxPreemptions windows are never preemptible; a caller abort is not mistaken for a pre-emption', async () => {
    const plain = new FakeEngine();
    await collect(transcribeLong(plain, loud(40)));
    expect(plain.calls.every((c) => c.options.preemptible === false)).toBe(true);

    const ac = new AbortController();
    const engine = new PreemptingEngine(new Set([0]), () => ac.abort());
    const err = await collect(
      transcribeLong(engine, loud(40), { maxPreemptions: 3, signal: ac.signal }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ABORTED' });
    expect(engine.calls).toHaveLength(1);
  });
});
