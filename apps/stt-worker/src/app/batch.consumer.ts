import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnModuleInit,
} from '@nestjs/common';
import { findSpeech } from '@parley/audio';
import type { SttWorkerConfig } from '@parley/config';
import { STT_JETSTREAM, SttJobMessage, sttEvents } from '@parley/contracts';
import {
  type JobOutcome,
  MessagingError,
  type NatsMessaging,
  type WorkConsumer,
  WorkQueue,
} from '@parley/messaging';
import type { HealthRegistry, Logger } from '@parley/observability';
import { CONFIG, HEALTH, LOGGER, MESSAGING } from '@parley/runtime';
import { BatchJobRunner, type BatchEventSink, SttError, SttJobStore } from '@parley/stt-engine';
import { EngineHost } from './engine.host';
import { WorkerMetrics } from './worker.metrics';

const OUTCOME_LABEL: Record<JobOutcome, string> = {
  acked: 'done',
  retried: 'retry',
  dead: 'failed',
};

/**
 * The batch lane: once the model is loaded, pulls jobs from the `STT_JOBS` work queue (one job in
 * hand at a time; the durable consumer is shared by every worker) and runs them with a
 * `BatchJobRunner`. A job is acked only after its result is stored; `working()` keeps a long job
 * from redelivery while windows keep finishing; a cancelled job stops within a window; on
 * shutdown the job in hand is handed back (nak) and resumes on another worker from its last
 * stored window.
 */
@Injectable()
export class BatchConsumer implements OnModuleInit, BeforeApplicationShutdown {
  #runner?: BatchJobRunner;
  #consumer?: WorkConsumer;
  #status: { ok: boolean; reason?: string } = { ok: false, reason: 'waiting for the model' };
  #starting = false;
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
    this.host.lanes.batchEnabled = () => !!this.#consumer && !this.#stopping;
    this.host.lanes.batchJobId = () => this.#runner?.currentJobId;
    this.messaging.subscribe(sttEvents.jobCancelled, (e) => this.#runner?.cancel(e.jobId), {
      tokens: ['*'],
    });
    this.host.onReady(() => void this.#start());
  }

  async #start(): Promise<void> {
    if (this.#consumer || this.#starting || this.#stopping) return;
    this.#starting = true;
    try {
      await this.messaging.waitUntilConnected();
      const nc = this.messaging.connection;
      const store = await SttJobStore.open(nc, {
        storage: this.config.STT_JOB_STORAGE,
        ttlMs: this.config.STT_JOB_TTL_S * 1000,
      });
      const vad = this.config.STT_WORKER_VAD;
      const runner = new BatchJobRunner({
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
      this.#runner = runner;
      const queue = new WorkQueue(this.messaging, {
        stream: STT_JETSTREAM.stream,
        subject: STT_JETSTREAM.subject,
        payload: SttJobMessage,
        storage: this.config.STT_JOB_STORAGE,
        maxDeliver: this.config.STT_JOB_MAX_DELIVER,
        ackWaitMs: this.config.STT_JOB_ACK_WAIT_MS,
        logger: this.logger,
      });
      await queue.ensureStream();
      // One job in hand (the queue's default): a busy worker leaves the next job to idle ones.
      this.#consumer = await queue.consume(
        STT_JETSTREAM.consumer,
        (job, ctx) =>
          runner.run(job, { deliveryCount: ctx.deliveryCount, working: () => ctx.working() }),
        {
          retryDelayMs: 500,
          onOutcome: (outcome) => this.metrics.jobs.inc({ outcome: OUTCOME_LABEL[outcome] }),
          onDeadLetter: (payload, err, ctx) => {
            const jobId = (payload as { jobId?: unknown } | undefined)?.jobId;
            const reason =
              err instanceof MessagingError && err.code === 'BAD_REQUEST'
                ? new SttError('BAD_OPTIONS', 'invalid job message')
                : err;
            return runner
              .deadLetter(typeof jobId === 'string' ? jobId : undefined, reason, ctx.deliveryCount)
              .catch((e: unknown) => {
                this.logger.error('process() | cannot record the failure', {
                  jobId,
                  err: (e as Error).message,
                });
              });
          },
        },
      );
      this.#status = { ok: true };
      this.host.announce();
      this.logger.info('start() | batch lane open', { workerId: this.host.workerId });
    } catch (err) {
      this.#status = { ok: false, reason: `batch lane: ${(err as Error).message}` };
      this.logger.error('start() | cannot open the batch lane; retrying', {
        err: (err as Error).message,
      });
      setTimeout(() => void this.#start(), 2000).unref();
    } finally {
      this.#starting = false;
    }
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
    await this.#consumer?.stop();
  }
}
