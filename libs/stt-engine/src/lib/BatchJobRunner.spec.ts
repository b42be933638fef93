import { float32ToBytes } from '@parley/audio';
import type { SttJobMessage, SttJobStatus } from '@parley/contracts';
import { FakeEngine, MemoryJobStore, speechLike } from '../fake-engine';
import { type BatchEventSink, BatchJobRunner } from './BatchJobRunner';
import { SttError } from './SttError';

function events() {
  const log: Array<{ type: string; e: unknown }> = [];
  const sink: BatchEventSink = {
    progress: (e) => log.push({ type: 'progress', e }),
    segment: (e) => log.push({ type: 'segment', e }),
    completed: (e) => log.push({ type: 'completed', e }),
    failed: (e) => log.push({ type: 'failed', e }),
  };
  return { log, sink };
}

async function setup(seconds: number, opts: { engineDelayMs?: number } = {}) {
  const store = new MemoryJobStore();
  const engine = new FakeEngine(opts.engineDelayMs ?? 0);
  const ev = events();
  const runner = (workerId: string) =>
    new BatchJobRunner({
      engine,
      store,
      events: ev.sink,
      workerId,
      model: () => ({ name: 'm.bin', synthetic: true }),
      windowMs: 2000,
      cutSearchMs: 0,
      maxPreemptions: 2,
      heartbeatMs: 50,
    });
  const now = new Date().toISOString();
  const status: SttJobStatus = {
    jobId: 'j1',
    state: 'queued',
    progress: 0,
    processedMs: 0,
    durationMs: seconds * 1000,
    options: { language: 'en' },
    attempts: 0,
    createdAt: now,
    updatedAt: now,
  };
  await store.createStatus(status);
  await store.putAudio('j1', float32ToBytes(speechLike(seconds)));
  const msg: SttJobMessage = {
    jobId: 'j1',
    audioObject: 'j1',
    durationMs: seconds * 1000,
    options: { language: 'en' },
    createdAt: now,
  };
  return { store, engine, ev, runner, msg };
}

const delivery = (n = 1) => {
  const d = { deliveryCount: n, beats: 0, working: () => void d.beats++ };
  return d;
};

describe('BatchJobRunner', () => {
  it('transcribes window by window at batch priority, checkpoints each window, stores one result', async () => {
    const { store, engine, ev, runner, msg } = await setup(5);
    const d = delivery();
    await runner('w1').run(msg, d);

    expect(engine.calls.map((c) => c.options.priority)).toEqual(['batch', 'batch', 'batch']);
    // Pre-emption is handled per window by transcribeLong: the engine sees preemptible calls.
    expect(engine.calls.every((c) => c.options.preemptible === true)).toBe(true);
    expect((await store.listWindows('j1')).map((w) => [w.startMs, w.endMs])).toEqual([
      [0, 2000],
      [2000, 4000],
      [4000, 5000],
    ]);
    const result = await store.getResult('j1');
    expect(result?.segments.map((s) => [s.id, s.t0, s.t1])).toEqual([
      [0, 0, 2000],
      [1, 2000, 4000],
      [2, 4000, 5000],
    ]);
    expect(result).toMatchObject({ durationMs: 5000, workerId: 'w1', model: { synthetic: true } });
    expect(await store.getStatus('j1')).toMatchObject({
      state: 'completed',
      progress: 100,
      attempts: 1,
      workerId: 'w1',
    });
    const types = ev.log.map((l) => l.type);
    expect(types).toEqual([
      'segment',
      'progress',
      'segment',
      'progress',
      'segment',
      'progress',
      'completed',
    ]);
    const progress = ev.log
      .filter((l) => l.type === 'progress')
      .map((l) => (l.e as { progress: number }).progress);
    expect(progress).toEqual([40, 80, 100]);
    expect(store.audio.has('j1')).toBe(false);
    expect(d.beats).toBeGreaterThanOrEqual(3);
  });

  it('a redelivery resumes after the last stored window and ends with exactly one result', async () => {
    const { store, engine, ev, runner, msg } = await setup(5);
    // A first worker stored window 0 and died.
    await store.putWindow('j1', {
      window: 0,
      startMs: 0,
      endMs: 2000,
      skipped: false,
      segments: [{ t0: 0, t1: 2000, text: 'from-w0', tokens: 1, confidence: 1 }],
      processMs: 10,
      workerId: 'w0',
      attempt: 1,
    });
    await store.mutateStatus('j1', (s) => ({
      ...s,
      state: 'running',
      attempts: 1,
      workerId: 'w0',
    }));
    await runner('w1').run(msg, delivery(2));

    expect(engine.calls.map((c) => c.options.offsetMs)).toEqual([2000, 4000]);
    expect(store.results.get('j1')).toHaveLength(1);
    const result = await store.getResult('j1');
    expect(result?.segments.map((s) => s.text)).toEqual(['from-w0', 'c1', 'c2']);
    expect(await store.getStatus('j1')).toMatchObject({ state: 'completed', attempts: 2 });
    expect(ev.log.filter((l) => l.type === 'completed')).toHaveLength(1);
  });

  it('a delivery of a job whose result is already stored only completes it (no second result)', async () => {
    const { store, engine, ev, runner, msg } = await setup(3);
    await runner('w1').run(msg, delivery(1));
    await store.mutateStatus('j1', (s) => ({ ...s, state: 'running' })); // died before the last update
    await runner('w2').run(msg, delivery(2));
    expect(engine.calls).toHaveLength(2);
    expect(store.results.get('j1')).toHaveLength(1);
    expect((await store.getStatus('j1'))?.state).toBe('completed');
    expect(ev.log.filter((l) => l.type === 'completed')).toHaveLength(1);
  });

  it('acks a cancelled job without transcribing, and stops a running one when it is cancelled', async () => {
    const a = await setup(3);
    await a.store.mutateStatus('j1', (s) => ({ ...s, state: 'cancelled' }));
    await a.runner('w1').run(a.msg, delivery());
    expect(a.engine.calls).toHaveLength(0);

    const b = await setup(20, { engineDelayMs: 30 });
    const runner = b.runner('w1');
    const run = runner.run(b.msg, delivery());
    await new Promise((r) => setTimeout(r, 50));
    await b.store.mutateStatus('j1', (s) => ({ ...s, state: 'cancelled' }));
    runner.cancel('j1');
    await run; // resolves: the job is acked, not retried
    expect(b.engine.calls.length).toBeLessThan(10);
    expect(await b.store.getResult('j1')).toBeUndefined();
    expect(b.store.audio.has('j1')).toBe(false);
  });

  it('interrupt() (shutdown) throws a retryable error so the job is redelivered', async () => {
    const { runner, msg } = await setup(20, { engineDelayMs: 30 });
    const r = runner('w1');
    const run = r.run(msg, delivery());
    await new Promise((res) => setTimeout(res, 50));
    r.interrupt();
    await expect(run).rejects.toMatchObject({ code: 'CLOSED', retryable: true });
  });

  it('missing audio fails the job for good with AUDIO_MISSING; deadLetter() marks it failed once', async () => {
    const { store, ev, runner, msg } = await setup(3);
    store.audio.clear();
    const r = runner('w1');
    const err = await r.run(msg, delivery()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SttError);
    expect(err).toMatchObject({ code: 'AUDIO_MISSING', retryable: false });
    await r.deadLetter('j1', err, 1);
    await r.deadLetter('j1', err, 1);
    expect(await store.getStatus('j1')).toMatchObject({
      state: 'failed',
      error: { code: 'AUDIO_MISSING' },
    });
    expect(ev.log.filter((l) => l.type === 'failed')).toHaveLength(1);
  });
});
