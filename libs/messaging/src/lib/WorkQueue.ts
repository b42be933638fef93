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

/** Handle of a running consumer. */
export interface WorkConsumer {
  /** Stops pulling; unacked jobs in hand are redelivered after ack-wait. */
  stop(): Promise<void>;
  /** Resolves when the consume loop ends. */
  done: Promise<void>;
}

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
   */
  async consume(
    durable: string,
    handler: (payload: z.output<S>, job: JobContext) => Promise<void>,
    opts: {
      onDeadLetter?: (payload: unknown, err: unknown, job: JobContext) => Promise<void> | void;
      retryDelayMs?: number;
    } = {},
  ): Promise<WorkConsumer> {
    const nc = this.messaging.connection;
    const jsm = await nc.jetstreamManager();
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
    const consumer = await nc.jetstream().consumers.get(this.opts.stream, durable);
    // One job in hand at a time: a busy worker must not hoard jobs others could run.
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 1 });
    const done = (async () => {
      for await (const m of messages) {
        await this.process(m, handler, opts);
      }
    })();
    return {
      done,
      stop: async () => {
        await messages.close();
        await done.catch(() => undefined);
      },
    };
  }

  private async process(
    m: JsMsg,
    handler: (payload: z.output<S>, job: JobContext) => Promise<void>,
    opts: {
      onDeadLetter?: (payload: unknown, err: unknown, job: JobContext) => Promise<void> | void;
      retryDelayMs?: number;
    },
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
        await opts.onDeadLetter?.(
          raw,
          new MessagingError('BAD_REQUEST', 'invalid job payload'),
          job,
        );
        span.end();
        return;
      }
      try {
        await handler(parsed.data, job);
        await m.ackAck().catch(() => m.ack());
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
        } else {
          this.opts.logger.error('consume() | job failed for good', {
            seq: m.seq,
            delivery: job.deliveryCount,
            err: (err as Error).message,
          });
          m.term((err as Error).message);
          await opts.onDeadLetter?.(parsed.data, err, job);
        }
      } finally {
        span.end();
      }
    });
  }
}
