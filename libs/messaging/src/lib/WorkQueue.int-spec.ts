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
