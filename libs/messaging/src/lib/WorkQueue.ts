import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import type { Logger } from '@parley/observability';
import {
  getCorrelationId,
  newCorrelationId,
  recordError,
  setCorrelationId,
  tracer,
} from '@parley/observability';
import {
  AckPolicy,
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
  RetentionPolicy,
  StorageType,
  nanos,
} from 'nats';
import type { z } from 'zod';
import { decodeJson, encodeJson, natsHeaderGetter, natsHeaderSetter, newHeaders } from './codec';
import { MessagingError } from './errors';
import type { NatsMessaging } from './NatsMessaging';

/** Options of a {@link WorkQueue}. */
export interface WorkQueueOptions<S extends z.ZodType> {
  /** JetStream stream name. */
  stream: string;
  /** Subject the jobs are published on (the stream's only subject). */
  subject: string;
  /** Schema of a job payload. */
  payload: S;
  /** File storage survives a NATS restart; memory is for tests only. */
  storage?: 'file' | 'memory';
  /** Deliveries before a job is given up (then `onDeadLetter` runs). */
  maxDeliver?: number;
  /** How long a delivered, unacked job stays invisible before redelivery. */
  ackWaitMs?: number;
  /** Window in which a repeated `Nats-Msg-Id` is stored once. */
  duplicateWindowMs?: number;
  logger: Logger;
}

/** What a job handler receives besides the payload. */
export interface JobContext {
  /** 1 on first delivery. */
  deliveryCount: number;
  /** The `Nats-Msg-Id` the job was enqueued with. */
  msgId?: string;
  /** Extends the ack deadline while a long job is still making progress. */
  working(): void;
  /** Correlation id of the job. */
  correlationId: string;
}

/** Outcome of one delivery, as reported to {@link ConsumeOptions.onOutcome}. */
export type JobOutcome = 'acked' | 'retried' | 'dead';

/** Options of {@link WorkQueue.consume}. */
export interface ConsumeOptions {
  /**
   * Runs when a job is given up: its payload is invalid, its handler threw an error with
   * `retryable: false`, or its last delivery failed. Receives the raw payload for invalid jobs.
   */
  onDeadLetter?: (payload: unknown, err: unknown, job: JobContext) => Promise<void> | void;
  /** A retryable failure is redelivered after this × the delivery count, ms. Default 1000. */
  retryDelayMs?: number;
  /**
   * Jobs this consumer holds at once (each one being processed). Default 1. A slot asks JetStream
   * for its next job only when its job is settled, so a worker never holds a job it is not
   * working on: such a job would wait behind the running one, its ack wait would run out, and it
   * would be redelivered elsewhere with a growing delivery count although nothing failed.
   */
  concurrency?: number;
  /** How long one pull waits for a job before pulling again, ms (≥ 1000). Default 5000. */
  pullExpiresMs?: number;
  /** Called with each delivery's outcome (metrics). */
  onOutcome?: (outcome: JobOutcome, job: JobContext) => void;
}

/** Handle of a running consumer. */
export interface WorkConsumer {
  /**
   * Stops pulling now (a pull in flight is cancelled) and waits for the jobs in hand to settle;
   * make handlers return early (e.g. abort them) to hand their jobs back sooner.
   */
  stop(): Promise<void>;
  /** Resolves when every pull loop has ended. */
  done: Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A durable work queue on a JetStream stream with work-queue retention: at-least-once delivery,
 * explicit acks, redelivery of unacked jobs (a worker dying mid-job loses nothing), `nak` with
 * delay for retryable failures, `term` for permanent ones, and de-duplication by `Nats-Msg-Id`.
 */
export class WorkQueue<S extends z.ZodType> {
  private readonly maxDeliver: number;
  private readonly ackWaitMs: number;

  constructor(
    private readonly messaging: NatsMessaging,
    private readonly opts: WorkQueueOptions<S>,
  ) {
    this.maxDeliver = opts.maxDeliver ?? 5;
    this.ackWaitMs = opts.ackWaitMs ?? 30_000;
  }

  /** Creates the stream, or updates it to these settings. */
  async ensureStream(): Promise<void> {
    const jsm = await this.messaging.connection.jetstreamManager();
    const cfg = {
      name: this.opts.stream,
      subjects: [this.opts.subject],
      retention: RetentionPolicy.Workqueue,
      storage: this.opts.storage === 'memory' ? StorageType.Memory : StorageType.File,
      duplicate_window: nanos(this.opts.duplicateWindowMs ?? 120_000),
    };
    try {
      await jsm.streams.info(this.opts.stream);
      const { storage: _s, ...updatable } = cfg;
      await jsm.streams.update(this.opts.stream, updatable);
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw err;
      await jsm.streams.add(cfg);
    }
  }

  /** Deletes the stream (tests, teardown). */
  async deleteStream(): Promise<void> {
    const jsm = await this.messaging.connection.jetstreamManager();
    await jsm.streams.delete(this.opts.stream).catch(() => undefined);
  }

  /**
   * Enqueues a job. With `msgId`, a repeat within the duplicate window is stored once and
   * reported as `duplicate: true`.
   */
  async enqueue(
    payload: z.input<S>,
    opts: { msgId?: string } = {},
  ): Promise<{ seq: number; duplicate: boolean }> {
    const parsed = this.opts.payload.safeParse(payload);
    if (!parsed.success)
      throw new MessagingError(
        'BAD_REQUEST',
        `invalid job for ${this.opts.stream}`,
        false,
        parsed.error.issues,
      );
    let ctx = context.active();
    if (!getCorrelationId(ctx)) ctx = setCorrelationId(ctx, newCorrelationId());
    const span = tracer().startSpan(
      `${this.opts.subject} enqueue`,
      { kind: SpanKind.PRODUCER },
      ctx,
    );
    try {
      const headers = newHeaders();
      propagation.inject(trace.setSpan(ctx, span), headers, natsHeaderSetter);
      const js = this.messaging.connection.jetstream();
      const ack = await js.publish(this.opts.subject, encodeJson(parsed.data), {
        headers,
        ...(opts.msgId ? { msgID: opts.msgId } : {}),
      });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      recordError(span, err);
      throw err instanceof MessagingError
        ? err
        : new MessagingError('UNAVAILABLE', `cannot enqueue: ${(err as Error).message}`, true);
    } finally {
      span.end();
    }
  }

  /**
   * Pulls jobs with a durable consumer shared by every worker of the queue. The handler's success
   * acks; a thrown error with `retryable: false` (or the last delivery) terms the job and calls
   * `onDeadLetter`; any other error naks it with a delay growing per delivery.
   *
   * At most `concurrency` (default 1) jobs are in hand: each slot pulls one job
   * (`fetch({ max_messages: 1 })`) only once its previous job is settled. Not JetStream's
   * `consume()`, which re-pulls as soon as a message arrives, i.e. keeps one more job buffered
   * while the handler works. The loops survive NATS restarts: a failed pull re-creates the
   * consumer if it is gone and pulls again.
   */
  async consume(
    durable: string,
    handler: (payload: z.output<S>, job: JobContext) => Promise<void>,
    opts: ConsumeOptions = {},
  ): Promise<WorkConsumer> {
    const concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new MessagingError(
        'BAD_REQUEST',
        `concurrency must be an integer ≥ 1, got ${concurrency}`,
      );
    }
    const expires = Math.max(1000, opts.pullExpiresMs ?? 5000);
    await this.ensureConsumer(durable);
    let stopping = false;
    const pulls = new Set<ConsumerMessages>();
    let wake: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (wake = resolve));

    const slot = async (): Promise<void> => {
      let consumer: Consumer | undefined;
      while (!stopping) {
        let batch: ConsumerMessages | undefined;
        try {
          consumer ??= await this.messaging.connection
            .jetstream()
            .consumers.get(this.opts.stream, durable);
          batch = await consumer.fetch({ max_messages: 1, expires });
          pulls.add(batch);
          // close() settles once the iterator is drained, so it is not awaited here.
          if (stopping) void batch.close().catch(() => undefined);
          for await (const m of batch) {
            if (stopping) {
              // Pulled while stopping: hand it back at once instead of after the ack wait.
              m.nak();
              continue;
            }
            await this.process(m, handler, opts).catch((err: unknown) =>
              // An ack/nak lost with the connection: JetStream redelivers after the ack wait.
              this.opts.logger.warn('consume() | job outcome not delivered', {
                stream: this.opts.stream,
                err: (err as Error).message,
              }),
            );
          }
        } catch (err) {
          if (stopping) break;
          // NATS restarting, consumer or stream gone: look it up (re-create it) and pull again.
          this.opts.logger.warn('consume() | pulling a job failed; retrying', {
            stream: this.opts.stream,
            err: (err as Error).message,
          });
          consumer = undefined;
          await Promise.race([sleep(1000), stopped]);
          await this.ensureConsumer(durable).catch(() => undefined);
        } finally {
          if (batch) pulls.delete(batch);
        }
      }
    };
    const done = Promise.all(Array.from({ length: concurrency }, slot)).then(() => undefined);
    return {
      done,
      stop: async () => {
        stopping = true;
        wake();
        for (const b of pulls) void b.close().catch(() => undefined);
        await done.catch(() => undefined);
      },
    };
  }

  /** Creates the durable pull consumer of this queue unless it exists. */
  async ensureConsumer(durable: string): Promise<void> {
    const jsm = await this.messaging.connection.jetstreamManager();
    try {
      await jsm.consumers.info(this.opts.stream, durable);
    } catch {
      await jsm.consumers.add(this.opts.stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_deliver: this.maxDeliver,
        ack_wait: nanos(this.ackWaitMs),
        filter_subject: this.opts.subject,
      });
    }
  }

  private async process(
    m: JsMsg,
    handler: (payload: z.output<S>, job: JobContext) => Promise<void>,
    opts: ConsumeOptions,
  ): Promise<void> {
    let parent = propagation.extract(context.active(), m.headers, natsHeaderGetter);
    const correlationId = getCorrelationId(parent) ?? newCorrelationId();
    parent = setCorrelationId(parent, correlationId);
    const job: JobContext = {
      deliveryCount: m.info.deliveryCount,
      msgId: m.headers?.has('Nats-Msg-Id') ? m.headers.get('Nats-Msg-Id') : undefined,
      working: () => m.working(),
      correlationId,
    };
    const span = tracer().startSpan(
      `${this.opts.subject} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: { 'messaging.system': 'nats', 'parley.delivery_count': job.deliveryCount },
      },
      parent,
    );
    await context.with(trace.setSpan(parent, span), async () => {
      let raw: unknown;
      try {
        raw = decodeJson(m.data);
      } catch {
        raw = undefined;
      }
      const parsed = this.opts.payload.safeParse(raw);
      if (!parsed.success) {
        this.opts.logger.error('consume() | job payload invalid, terminated', {
          stream: this.opts.stream,
          seq: m.seq,
        });
        m.term('invalid payload');
        opts.onOutcome?.('dead', job);
        try {
          await opts.onDeadLetter?.(
            raw,
            new MessagingError('BAD_REQUEST', 'invalid job payload', false, parsed.error.issues),
            job,
          );
        } finally {
          span.end();
        }
        return;
      }
      try {
        await handler(parsed.data, job);
        await m.ackAck().catch(() => m.ack());
        opts.onOutcome?.('acked', job);
      } catch (err) {
        recordError(span, err);
        const retryable = (err as { retryable?: unknown }).retryable !== false;
        if (retryable && job.deliveryCount < this.maxDeliver) {
          const delay = (opts.retryDelayMs ?? 1000) * job.deliveryCount;
          this.opts.logger.warn('consume() | job failed, will retry', {
            seq: m.seq,
            delivery: job.deliveryCount,
            delay_ms: delay,
            err: (err as Error).message,
          });
          m.nak(delay);
          opts.onOutcome?.('retried', job);
        } else {
          this.opts.logger.error('consume() | job failed for good', {
            seq: m.seq,
            delivery: job.deliveryCount,
            err: (err as Error).message,
          });
          m.term((err as Error).message);
          opts.onOutcome?.('dead', job);
          await opts.onDeadLetter?.(parsed.data, err, job);
        }
      } finally {
        span.end();
      }
    });
  }
}
