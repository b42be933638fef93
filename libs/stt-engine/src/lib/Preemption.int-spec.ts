import { ensureWhisperSetup, speechOfLength } from '../spec-helpers';
import { transcribeLong } from './LongAudioTranscriber';
import { WhisperEngine } from './WhisperEngine';

describe('WhisperEngine pre-emption of batch work by realtime work (synthetic model)', () => {
  let engine: WhisperEngine;
  let long: Float32Array;
  let short: Float32Array;

  beforeAll(async () => {
    const { addonPath, modelPath } = ensureWhisperSetup();
    engine = new WhisperEngine({ addonPath });
    await engine.load(modelPath, { threads: 1 });
    long = speechOfLength(12);
    short = speechOfLength(2);
  }, 600_000);

  afterAll(async () => {
    await engine?.close();
  });

  async function race(maxPreemptions: number) {
    const order: string[] = [];
    const batch = engine
      .transcribe(long, { priority: 'batch', maxPreemptions, singleSegment: false })
      .then((r) => {
        order.push('batch');
        return r;
      });
    await new Promise((r) => setTimeout(r, 150));
    const realtime = engine.transcribe(short).then((r) => {
      order.push('realtime');
      return r;
    });
    const [b, rt] = await Promise.all([batch, realtime]);
    return { order, b, rt };
  }

  it('a realtime call aborts a pre-emptible batch call, runs first, and the batch call starts over and completes', async () => {
    const { order, b, rt } = await race(2);
    expect(order).toEqual(['realtime', 'batch']);
    expect(b.timing.preemptions).toBe(1);
    expect(rt.segments.length).toBeGreaterThan(0);
    // The restarted batch call still covers its whole clip.
    expect(b.segments.length).toBeGreaterThan(0);
    expect(b.segments.at(-1)?.t1).toBeLessThanOrEqual(12_000);
  });

  it('with maxPreemptions 0 the realtime call waits for the running batch call', async () => {
    const { order, b } = await race(0);
    expect(order).toEqual(['batch', 'realtime']);
    expect(b.timing.preemptions).toBe(0);
  });

  it('transcribeLong() with maxPreemptions: a realtime call aborts the running window, which restarts at half its length', async () => {
    const order: string[] = [];
    const windows: Array<[number, number, number]> = [];
    const job = (async () => {
      for await (const e of transcribeLong(engine, speechOfLength(8), {
        windowMs: 8000,
        minWindowMs: 4000,
        cutSearchMs: 0,
        maxPreemptions: 1,
      })) {
        if (e.type !== 'progress') continue;
        order.push(`window${e.window}`);
        windows.push([e.windowStartMs, e.windowEndMs, e.preemptions]);
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    await engine.transcribe(short);
    order.push('realtime');
    await job;
    expect(order).toEqual(['realtime', 'window0', 'window1']);
    expect(windows).toEqual([
      [0, 4000, 1],
      [4000, 8000, 0],
    ]);
  });

  it('a preemptible batch call is aborted inside its encoder by a realtime call and rejects with ABORTED; the realtime call hardly waits', async () => {
    const window = speechOfLength(28);
    const options = { priority: 'batch', singleSegment: false, audioContext: 'full' } as const;
    const reference = await engine.transcribe(window, options);
    const encodeMs = reference.timing.native?.encodeMs ?? 0;
    expect(encodeMs).toBeGreaterThan(100);

    const batch = engine.transcribe(window, { ...options, preemptible: true }).then(
      () => 'completed',
      (err: { code?: string }) => err.code,
    );
    await new Promise((r) => setTimeout(r, 40)); // into the encoder
    const rt = await engine.transcribe(short);
    expect(await batch).toBe('ABORTED');
    expect(rt.segments.length).toBeGreaterThan(0);
    // It waited for ggml to notice the flag, not for the encoder of a 30 s window.
    expect(rt.timing.queuedMs).toBeLessThan(Math.max(150, encodeMs * 0.3));
  });

  it('with batchYieldMs a batch call starts only that long after the last realtime call ended', async () => {
    const { addonPath, modelPath } = ensureWhisperSetup();
    const yielding = new WhisperEngine({ addonPath, batchYieldMs: 400 });
    await yielding.load(modelPath, { threads: 1 });
    try {
      await yielding.transcribe(short);
      const b = await yielding.transcribe(short, { priority: 'batch' });
      expect(b.timing.queuedMs).toBeGreaterThanOrEqual(380);
      // Without realtime calls in the last 400 ms, no wait.
      await new Promise((r) => setTimeout(r, 450));
      const c = await yielding.transcribe(short, { priority: 'batch' });
      expect(c.timing.queuedMs).toBeLessThan(100);
    } finally {
      await yielding.close();
    }
  });
});
