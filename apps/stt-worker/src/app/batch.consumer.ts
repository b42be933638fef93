import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnModuleInit,
} from '@nestjs/common';
import { findSpeech } from '@parley/audio';
import type { SttWorkerConfig } from '@parley/config';
import { STT_JETSTREAM, SttJobMessage, sttEvents } from '@parley/contracts';
import { type NatsMessaging, WorkQueue, decodeJson, natsHeaderGetter } from '@parley/messaging';
import {
  type HealthRegistry,
  type Logger,
  getCorrelationId,
  newCorrelationId,
  recordError,
  setCorrelationId,
  tracer,
} from '@parley/observability';
import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { AckPolicy, type Consumer, DeliverPolicy, type JsMsg, nanos } from 'nats';
import { CONFIG, HEALTH, LOGGER, MESSAGING } from '@parley/runtime';
import { BatchJobRunner, type BatchEventSink, SttError, SttJobStore } from '@parley/stt-engine';
import { EngineHost } from './engine.host';
import { WorkerMetrics } from './worker.metrics';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The batch lane: once the model is loaded, pulls jobs from the `STT_JOBS` work queue (one at a
 * time; the durable consumer is shared by every worker) and runs them with a `BatchJobRunner`.
 * A job is acked only after its result is stored; `working()` keeps a long job from redelivery
 * while windows keep finishing; a cancelled job stops within a window; on shutdown the job in hand
 * is handed back (nak) and resumes on another worker from its last stored window.
 */
@Injectable()
export class BatchConsumer implements OnModuleInit, BeforeApplicationShutdown {
  #runner?: BatchJobRunner;
  #loop?: Promise<void>;
  #queue?: WorkQueue<typeof SttJobMessage>;
  #status: { ok: boolean; reason?: string } = { ok: false, reason: 'waiting for the model' };
  #stopping = false;

  constructor(
    @Inject(EngineHost) private readonly host: EngineHost,
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(HEALTH) private readonly health: HealthRegistry,
    @Inject(WorkerMetrics) private readonly metrics: WorkerMetrics,
    @Inject(CONFIG) private readonly config: SttWorkerConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    if (!this.config.STT_WORKER_BATCH) return;
    this.health.register('jobs', () => this.#status);
    this.host.lanes.batchEnabled = () => !!this.#loop && !this.#stopping;
    this.host.lanes.batchJobId = () => this.#runner?.currentJobId;
    this.messaging.subscribe(sttEvents.jobCancelled, (e) => this.#runner?.cancel(e.jobId), {
      tokens: ['*'],
    });
    this.host.onReady(() => void this.#start());
  }

  async #start(): Promise<void> {
    if (this.#loop || this.#stopping) return;
    try {
      await this.messaging.waitUntilConnected();
      const nc = this.messaging.connection;
      const store = await SttJobStore.open(nc, {
        storage: this.config.STT_JOB_STORAGE,
        ttlMs: this.config.STT_JOB_TTL_S * 1000,
      });
      const vad = this.config.STT_WORKER_VAD;
      this.#runner = new BatchJobRunner({
        engine: this.host.engine,
        store,
        events: this.#events(),
        workerId: this.host.workerId,
        model: () => ({
          name: this.host.model?.name ?? 'unknown',
          synthetic: this.host.model?.synthetic ?? false,
        }),
        windowMs: this.config.STT_WORKER_BATCH_WINDOW_MS,
        maxPreemptions: this.config.STT_WORKER_MAX_PREEMPTIONS,
        speechGate: vad ? (w) => findSpeech(w) !== undefined : undefined,
        heartbeatMs: Math.max(200, Math.floor(this.config.STT_JOB_ACK_WAIT_MS / 3)),
        logger: this.logger,
      });
      this.#queue = new WorkQueue(this.messaging, {
        stream: STT_JETSTREAM.stream,
        subject: STT_JETSTREAM.subject,
        payload: SttJobMessage,
        storage: this.config.STT_JOB_STORAGE,
        maxDeliver: this.config.STT_JOB_MAX_DELIVER,
        ackWaitMs: this.config.STT_JOB_ACK_WAIT_MS,
        logger: this.logger,
      });
      await this.#queue.ensureStream();
      await this.#ensureConsumer();
      this.#loop = this.#pullLoop();
      this.#status = { ok: true };
      this.host.announce();
      this.logger.info('start() | batch lane open', { workerId: this.host.workerId });
    } catch (err) {
      this.#status = { ok: false, reason: `batch lane: ${(err as Error).message}` };
      this.logger.error('start() | cannot open the batch lane; retrying', {
        err: (err as Error).message,
      });
      setTimeout(() => void this.#start(), 2000).unref();
    }
  }

  /**
   * Pulls one job, processes it, acks it, pulls the next. Deliberately not the work queue's
   * `consume()`: that keeps one more job buffered while one is processed, and the buffered job's
   * ack wait runs out behind a long job — it is redelivered elsewhere and its delivery count grows
   * towards max-deliver although nothing failed. `next()` asks for a job only when idle.
   */
  async #pullLoop(): Promise<void> {
    const nc = this.messaging.connection;
    while (!this.#stopping) {
      let consumer: Consumer;
      try {
        await this.#ensureConsumer();
        consumer = await nc.jetstream().consumers.get(STT_JETSTREAM.stream, STT_JETSTREAM.consumer);
      } catch (err) {
        this.logger.warn('pull() | job consumer unavailable; retrying', {
          err: (err as Error).message,
        });
        await sleep(1000);
        continue;
      }
      while (!this.#stopping) {
        let m: JsMsg | null;
        try {
          m = await consumer.next({ expires: 2000 });
        } catch (err) {
          // NATS restarting, consumer gone: get it again.
          this.logger.warn('pull() | pulling a job failed', { err: (err as Error).message });
          await sleep(500);
          break;
        }
        if (!m) continue;
        if (this.#stopping) {
          m.nak();
          break;
        }
        await this.#process(m).catch((err: unknown) =>
          // An ack/nak lost with the connection: JetStream redelivers after the ack wait.
          this.logger.warn('pull() | job outcome not delivered', { err: (err as Error).message }),
        );
      }
    }
  }

  async #ensureConsumer(): Promise<void> {
    const jsm = await this.messaging.connection.jetstreamManager();
    try {
      await jsm.consumers.info(STT_JETSTREAM.stream, STT_JETSTREAM.consumer);
    } catch {
      await jsm.consumers.add(STT_JETSTREAM.stream, {
        durable_name: STT_JETSTREAM.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_deliver: this.config.STT_JOB_MAX_DELIVER,
        ack_wait: nanos(this.config.STT_JOB_ACK_WAIT_MS),
        filter_subject: STT_JETSTREAM.subject,
      });
    }
  }

  /** One delivery: ack after the runner resolves; nak (retryable) or term + dead letter. */
  async #process(m: JsMsg): Promise<void> {
    const runner = this.#runner;
    if (!runner) return;
    let parent = propagation.extract(context.active(), m.headers, natsHeaderGetter);
    const correlationId = getCorrelationId(parent) ?? newCorrelationId();
    parent = setCorrelationId(parent, correlationId);
    const deliveryCount = m.info.deliveryCount;
    const span = tracer().startSpan(
      `${STT_JETSTREAM.subject} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: { 'messaging.system': 'nats', 'parley.delivery_count': deliveryCount },
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
      const parsed = SttJobMessage.safeParse(raw);
      if (!parsed.success) {
        this.logger.error('process() | job message invalid, terminated', { seq: m.seq });
        m.term('invalid payload');
        const jobId = (raw as { jobId?: unknown } | undefined)?.jobId;
        await runner
          .deadLetter(
            typeof jobId === 'string' ? jobId : undefined,
            new SttError('BAD_OPTIONS', 'invalid job message'),
            deliveryCount,
          )
          .catch(() => undefined);
        span.end();
        return;
      }
      try {
        await runner.run(parsed.data, { deliveryCount, working: () => m.working() });
        await m.ackAck().catch(() => m.ack());
        this.metrics.jobs.inc({ outcome: 'done' });
      } catch (err) {
        recordError(span, err);
        const retryable = (err as { retryable?: unknown }).retryable !== false;
        if (retryable && deliveryCount < this.config.STT_JOB_MAX_DELIVER) {
          const delay = 500 * deliveryCount;
          this.logger.warn('process() | job failed, will retry', {
            jobId: parsed.data.jobId,
            delivery: deliveryCount,
            delay_ms: delay,
            err: (err as Error).message,
          });
          m.nak(delay);
          this.metrics.jobs.inc({ outcome: 'retry' });
        } else {
          this.logger.error('process() | job failed for good', {
            jobId: parsed.data.jobId,
            delivery: deliveryCount,
            err: (err as Error).message,
          });
          m.term((err as Error).message);
          this.metrics.jobs.inc({ outcome: 'failed' });
          await runner.deadLetter(parsed.data.jobId, err, deliveryCount).catch((e: unknown) =>
            this.logger.error('process() | cannot record the failure', {
              jobId: parsed.data.jobId,
              err: (e as Error).message,
            }),
          );
        }
      } finally {
        span.end();
      }
    });
  }

  #events(): BatchEventSink {
    const publish = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        this.logger.warn('events() | job event not published', { err: (err as Error).message });
      }
    };
    const m = this.messaging;
    return {
      progress: (e) => {
        this.metrics.windows.inc({ outcome: 'done' });
        publish(() => m.publish(sttEvents.jobProgress, e, { tokens: [e.jobId] }));
      },
      segment: (e) => publish(() => m.publish(sttEvents.jobSegment, e, { tokens: [e.jobId] })),
      completed: (e) => publish(() => m.publish(sttEvents.jobCompleted, e, { tokens: [e.jobId] })),
      failed: (e) => publish(() => m.publish(sttEvents.jobFailed, e, { tokens: [e.jobId] })),
    };
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.#stopping = true;
    this.host.stopping();
    // Hand the job back now rather than after the ack wait: it resumes from its last window.
    this.#runner?.interrupt();
    await this.#loop;
  }
}
