import { FakeEngine, speechLike } from '../fake-engine';
import { RealtimeLane } from './RealtimeLane';

const RATE = 16000;

describe('RealtimeLane', () => {
  it('transcribes speech at realtime priority with segment times on the caller’s timeline', async () => {
    const engine = new FakeEngine();
    const lane = new RealtimeLane(engine);
    const r = await lane.transcribe({
      utteranceId: 'u1',
      kind: 'final',
      pcm: speechLike(2),
      startMs: 5000,
    });
    expect(r.speech).toBe(true);
    expect(engine.calls[0]?.options.priority).toBe('realtime');
    expect(r.segments[0]).toMatchObject({ t0: 5000, t1: 7000 });
    expect(r).toMatchObject({ startMs: 5000, endMs: 7000 });
  });

  it('does not call the engine for silence (the VAD gate), and reports speech: false', async () => {
    const engine = new FakeEngine();
    const lane = new RealtimeLane(engine);
    const r = await lane.transcribe({
      utteranceId: 'u1',
      kind: 'final',
      pcm: new Float32Array(RATE * 2),
      startMs: 0,
    });
    expect(r).toMatchObject({ speech: false, segments: [], text: '' });
    expect(engine.calls).toHaveLength(0);
  });

  it('with the VAD off, silence is transcribed like anything else', async () => {
    const engine = new FakeEngine();
    const lane = new RealtimeLane(engine, { vad: false });
    const r = await lane.transcribe({
      utteranceId: 'u1',
      kind: 'final',
      pcm: new Float32Array(RATE),
      startMs: 0,
    });
    expect(r.speech).toBe(true);
    expect(engine.calls).toHaveLength(1);
  });

  it('cuts long leading and trailing silence but keeps the timeline', async () => {
    const engine = new FakeEngine();
    const lane = new RealtimeLane(engine);
    const r = await lane.transcribe({
      utteranceId: 'u1',
      kind: 'final',
      pcm: speechLike(1, 3, 3),
      startMs: 1000,
    });
    const call = engine.calls[0];
    expect(call?.samples).toBeLessThan(RATE * 2);
    // The cut starts a little before the speech (pre-roll), at 1000 + ~2800 ms.
    expect(call?.options.offsetMs).toBeGreaterThan(3500);
    expect(call?.options.offsetMs).toBeLessThan(4000);
    expect(r).toMatchObject({ startMs: 1000, endMs: 8000 });
  });

  it('a final supersedes a pending partial of the same utterance, which reports skipped', async () => {
    const engine = new FakeEngine(50);
    const lane = new RealtimeLane(engine);
    const partial = lane.transcribe({
      utteranceId: 'u1',
      kind: 'partial',
      seq: 0,
      pcm: speechLike(1),
      startMs: 0,
    });
    const final = lane.transcribe({
      utteranceId: 'u1',
      kind: 'final',
      pcm: speechLike(2),
      startMs: 0,
    });
    expect((await partial).skipped).toBe('superseded');
    const f = await final;
    expect(f.skipped).toBeUndefined();
    expect(f.segments).toHaveLength(1);
    expect(lane.pendingPartials).toBe(0);
  });

  it('an older partial arriving after a newer one is skipped without decoding', async () => {
    const engine = new FakeEngine(30);
    const lane = new RealtimeLane(engine);
    const newer = lane.transcribe({
      utteranceId: 'u',
      kind: 'partial',
      seq: 2,
      pcm: speechLike(1),
      startMs: 0,
    });
    const older = await lane.transcribe({
      utteranceId: 'u',
      kind: 'partial',
      seq: 1,
      pcm: speechLike(1),
      startMs: 0,
    });
    expect(older.skipped).toBe('superseded');
    expect((await newer).skipped).toBeUndefined();
    expect(engine.calls).toHaveLength(1);
  });

  it('rejects empty audio with BAD_AUDIO', async () => {
    const lane = new RealtimeLane(new FakeEngine());
    await expect(
      lane.transcribe({ utteranceId: 'u', kind: 'final', pcm: new Float32Array(), startMs: 0 }),
    ).rejects.toMatchObject({ code: 'BAD_AUDIO' });
  });
});
