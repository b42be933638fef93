import { RealtimeLane } from './RealtimeLane';
import { FakeEngine, speechLike } from '../fake-engine';
import { RealtimeStream, type StreamTranscript } from './RealtimeStream';

const RATE = 16000;

/** Feeds `pcm` in 100 ms chunks, letting the engine's timers run in between. */
async function feed(stream: RealtimeStream, pcm: Float32Array): Promise<void> {
  const chunk = RATE / 10;
  for (let i = 0; i < pcm.length; i += chunk) {
    stream.push(pcm.subarray(i, Math.min(pcm.length, i + chunk)));
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('RealtimeStream', () => {
  it('sends partials at the interval while speech continues, then one final per utterance', async () => {
    const engine = new FakeEngine(0);
    const out: StreamTranscript[] = [];
    const stream = new RealtimeStream('s1', new RealtimeLane(engine), {
      partialIntervalMs: 500,
      onTranscript: (t) => out.push(t),
    });
    // silence, 2.5 s of speech, silence, 1.2 s of speech, silence
    await feed(stream, new Float32Array(RATE));
    await feed(stream, speechLike(2.5));
    await feed(stream, new Float32Array(RATE));
    await feed(stream, speechLike(1.2));
    await feed(stream, new Float32Array(RATE));
    await stream.close();

    const finals = out.filter((t) => t.final);
    expect(finals.map((t) => t.utteranceId)).toEqual(['s1-1', 's1-2']);
    const partials1 = out.filter((t) => !t.final && t.utteranceId === 's1-1');
    // 2.5 s of speech (+ pre-roll) at a 500 ms interval: five or six partials, none once the
    // hangover has no new speech to add.
    expect(partials1.length).toBeGreaterThanOrEqual(4);
    expect(partials1.length).toBeLessThanOrEqual(6);
    for (const p of partials1) expect(p.result.endMs - p.result.startMs).toBeLessThanOrEqual(3300);
    expect(partials1.map((p) => p.seq)).toEqual(partials1.map((_, i) => i));
    // Nothing of an utterance after its final.
    const finalAt = out.findIndex((t) => t.final && t.utteranceId === 's1-1');
    expect(out.slice(finalAt + 1).some((t) => t.utteranceId === 's1-1')).toBe(false);
    // The final covers the utterance on the stream timeline (speech started at 1 s).
    const f1 = finals[0]?.result;
    expect(f1?.startMs).toBeGreaterThanOrEqual(700);
    expect(f1?.startMs).toBeLessThanOrEqual(1000);
    expect(f1?.endMs).toBeGreaterThanOrEqual(3500);
    expect(stream.utterances).toBe(2);
  });

  it('never transcribes a stream of silence', async () => {
    const engine = new FakeEngine(0);
    const out: StreamTranscript[] = [];
    const stream = new RealtimeStream('s2', new RealtimeLane(engine), {
      partialIntervalMs: 200,
      onTranscript: (t) => out.push(t),
    });
    await feed(stream, new Float32Array(RATE * 3));
    await stream.close();
    expect(out).toEqual([]);
    expect(engine.calls).toHaveLength(0);
  });

  it('close() finalises an utterance still in progress', async () => {
    const engine = new FakeEngine(0);
    const out: StreamTranscript[] = [];
    const stream = new RealtimeStream('s3', new RealtimeLane(engine), {
      partialIntervalMs: 10_000,
      onTranscript: (t) => out.push(t),
    });
    await feed(stream, speechLike(1));
    expect(stream.inUtterance).toBe(true);
    await stream.close();
    expect(out.map((t) => [t.utteranceId, t.final])).toEqual([['s3-1', true]]);
  });

  it('with a slow engine, keeps at most one partial in flight instead of a backlog', async () => {
    const engine = new FakeEngine(400);
    const stream = new RealtimeStream('s4', new RealtimeLane(engine), {
      partialIntervalMs: 100,
      onTranscript: () => undefined,
    });
    await feed(stream, speechLike(1.5));
    const partialCalls = engine.calls.length;
    expect(partialCalls).toBeLessThanOrEqual(2);
    await stream.close();
  });
});
