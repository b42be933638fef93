import { Writable } from 'node:stream';
import { createLogger } from '@parley/observability';
import { eventually, testRunId } from '@parley/testing';
import { z } from 'zod';
import { NatsMessaging } from './NatsMessaging';
import { WorkQueue } from './WorkQueue';

const NATS = process.env['PARLEY_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const logger = createLogger({
  service: 'wq',
  nodeId: 'n',
  stream: new Writable({ write: (_c, _e, cb) => cb() }),
});
const Job = z.object({ id: z.string(), n: z.number() });

describe('WorkQueue (real JetStream)', () => {
  const messaging = new NatsMessaging({ servers: [NATS], name: 'wq', queue: 'wq', logger });
  const run = testRunId('wq');
  const queues: Array<WorkQueue<typeof Job>> = [];
  // A work-queue stream allows one consumer per filter, so each test gets its own stream.
  async function newQueue(name: string) {
    const q = new WorkQueue(messaging, {
      stream: `PARLEY_TEST_${run.toUpperCase()}_${name}`,
      subject: `test.${run}.${name}`,
      payload: Job,
      ackWaitMs: 1000,
      maxDeliver: 3,
      storage: 'file',
      logger,
    });
    await q.ensureStream();
    queues.push(q);
    return q;
  }

  beforeAll(async () => {
    messaging.start();
    await messaging.waitUntilConnected();
  });
  afterAll(async () => {
    for (const q of queues) await q.deleteStream();
    await messaging.close();
  });

  it('a job that is not acked is redelivered to another consumer', async () => {
    const queue = await newQueue('redeliver');
    const seenByA: number[] = [];
    const seenByB: Array<{ id: string; delivery: number }> = [];
    // Worker A takes the job and "dies" (never acks, stops pulling).
    let releaseA!: () => void;
    const a = await queue.consume('workers', async (_job, ctx) => {
      seenByA.push(ctx.deliveryCount);
      await new Promise<void>((r) => (releaseA = r));
      throw new Error('worker A is gone');
    });
    await queue.enqueue({ id: 'j1', n: 1 }, { msgId: `${run}-j1` });
    await eventually(() => seenByA.length === 1);
    const stopping = a.stop();
    const b = await queue.consume('workers', async (job, ctx) => {
      seenByB.push({ id: job.id, delivery: ctx.deliveryCount });
    });
    await eventually(() => seenByB.length === 1, 10_000);
    expect(seenByB[0]).toEqual({ id: 'j1', delivery: 2 });
    releaseA();
    await stopping;
    await b.stop();
  });

  it('consume() holds one job at a time, also after a long job: the next job waits in the stream for an idle consumer', async () => {
    // Long ack wait: a job buffered by a busy consumer would sit there for 30 s. Short pulls: the
    // first job outlasts several pull expiries and missed heartbeats, after which JetStream's own
    // consume() had two pulls waiting and kept a second job in hand.
    const stream = `PARLEY_TEST_${run.toUpperCase()}_ONE`;
    const queue = new WorkQueue(messaging, {
      stream,
      subject: `test.${run}.one`,
      payload: Job,
      ackWaitMs: 30_000,
      storage: 'memory',
      logger,
    });
    await queue.ensureStream();
    queues.push(queue);
    const jsm = await messaging.connection.jetstreamManager();
    const info = () => jsm.consumers.info(stream, 'one');
    const byA: string[] = [];
    const byB: string[] = [];
    let releaseX!: () => void;
    const heldX = new Promise<void>((r) => (releaseX = r));
    const a = await queue.consume(
      'one',
      async (job) => {
        byA.push(job.id);
        if (job.id === 'first') await new Promise((r) => setTimeout(r, 3500));
        if (job.id === 'x') await heldX;
      },
      { pullExpiresMs: 1000 },
    );
    await queue.enqueue({ id: 'first', n: 1 });
    await eventually(() => byA.length === 1);
    await eventually(async () => (await info()).num_ack_pending === 0, 10_000);
    for (const id of ['x', 'y', 'z']) await queue.enqueue({ id, n: 2 });
    await eventually(() => byA.length === 2);
    await new Promise((r) => setTimeout(r, 1500));
    const busy = await info();
    expect({ inHand: busy.num_ack_pending, inStream: busy.num_pending }).toEqual({
      inHand: 1,
      inStream: 2,
    });
    const b = await queue.consume('one', async (job) => {
      byB.push(job.id);
    });
    await eventually(() => byB.length === 2, 5_000);
    expect(byB).toEqual(['y', 'z']);
    expect(byA).toEqual(['first', 'x']);
    releaseX();
    await Promise.all([a.stop(), b.stop()]);
  });

  it('consume() with concurrency 2 works on two jobs at once and never on a third', async () => {
    const queue = await newQueue('concurrency');
    let running = 0;
    let peak = 0;
    const done: string[] = [];
    const c = await queue.consume(
      'concurrency',
      async (job) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 300));
        running--;
        done.push(job.id);
      },
      { concurrency: 2 },
    );
    for (let i = 0; i < 5; i++) await queue.enqueue({ id: `c${i}`, n: i });
    await eventually(() => done.length === 5, 10_000);
    expect(peak).toBe(2);
    await c.stop();
  });

  it('stop() ends an idle consumer at once, and a job in hand is acked before it returns', async () => {
    const queue = await newQueue('stop');
    const idle = await queue.consume('stop', async () => undefined, { pullExpiresMs: 30_000 });
    const t0 = Date.now();
    await idle.stop();
    expect(Date.now() - t0).toBeLessThan(1000);

    let finish!: () => void;
    const started: string[] = [];
    const busy = await queue.consume('stop', async (job) => {
      started.push(job.id);
      await new Promise<void>((r) => (finish = r));
    });
    await queue.enqueue({ id: 's1', n: 1 });
    await eventually(() => started.length === 1);
    const stopping = busy.stop();
    setTimeout(() => finish(), 200);
    await stopping;
    // Acked: nothing left for another consumer.
    const after: string[] = [];
    const check = await queue.consume('stop', async (job) => void after.push(job.id));
    await new Promise((r) => setTimeout(r, 1500));
    expect(after).toEqual([]);
    await check.stop();
  });

  it('invalid options and invalid payloads: concurrency 0 is refused; a bad payload is dead-lettered with BAD_REQUEST', async () => {
    const queue = await newQueue('invalid');
    await expect(
      queue.consume('invalid', async () => undefined, { concurrency: 0 }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    const dead: Array<{ payload: unknown; code: unknown }> = [];
    const outcomes: string[] = [];
    const c = await queue.consume('invalid', async () => undefined, {
      onDeadLetter: (payload, err) =>
        void dead.push({ payload, code: (err as { code?: unknown }).code }),
      onOutcome: (o) => void outcomes.push(o),
    });
    await messaging.connection
      .jetstream()
      .publish(`test.${run}.invalid`, new TextEncoder().encode('{"id":1}'));
    await eventually(() => dead.length === 1);
    expect(dead[0]).toEqual({ payload: { id: 1 }, code: 'BAD_REQUEST' });
    expect(outcomes).toEqual(['dead']);
    await c.stop();
  });

  it('a duplicate Nats-Msg-Id is stored once', async () => {
    const queue = await newQueue('dedup');
    const first = await queue.enqueue({ id: 'd1', n: 1 }, { msgId: `${run}-dup` });
    const second = await queue.enqueue({ id: 'd1', n: 1 }, { msgId: `${run}-dup` });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    const got: string[] = [];
    const c = await queue.consume('dedup', async (job) => {
      got.push(job.id);
    });
    await eventually(() => got.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(['d1']);
    await c.stop();
  });

  it('a job that keeps failing is terminated after maxDeliver and dead-lettered once', async () => {
    const queue = await newQueue('failing');
    const attempts: number[] = [];
    const dead: unknown[] = [];
    const c = await queue.consume(
      'failing',
      async (_job, ctx) => {
        attempts.push(ctx.deliveryCount);
        throw Object.assign(new Error('flaky'), { retryable: true });
      },
      { retryDelayMs: 50, onDeadLetter: (p) => void dead.push(p) },
    );
    await queue.enqueue({ id: 'f1', n: 0 });
    await eventually(() => dead.length === 1, 10_000);
    expect(attempts).toEqual([1, 2, 3]);
    await c.stop();
  });
});
