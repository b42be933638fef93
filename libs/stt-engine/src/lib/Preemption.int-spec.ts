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

  it('transcribeLong() passes maxPreemptions to its windows: realtime calls overtake the running window', async () => {
    const order: string[] = [];
    const job = (async () => {
      for await (const e of transcribeLong(engine, speechOfLength(8), {
        windowMs: 8000,
        maxPreemptions: 1,
      })) {
        if (e.type === 'progress') order.push(`window${e.window}`);
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    await engine.transcribe(short);
    order.push('realtime');
    await job;
    expect(order).toEqual(['realtime', 'window0']);
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
