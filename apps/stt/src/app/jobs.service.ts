import { randomBytes } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { SttConfig } from '@parley/config';
import {
  STT_JETSTREAM,
  SttJobMessage,
  type SttJobOptions,
  type SttJobResult,
  type SttJobStatus,
  type SttJobStreamEvent,
  sttEvents,
} from '@parley/contracts';
import { type NatsMessaging, WorkQueue, decodeJson } from '@parley/messaging';
import type { HealthRegistry, Logger } from '@parley/observability';
import { CONFIG, HEALTH, LOGGER, MESSAGING } from '@parley/runtime';
import { SttError, SttJobStore, markFailed, whisperLanguageId } from '@parley/stt-engine';
import type { Subscription } from 'nats';
import { type DecodedAudio, decodeAudio } from './audio-decoder';

const TERMINAL = new Set<SttJobStatus['state']>(['completed', 'failed', 'cancelled']);
const iso = () => new Date().toISOString();

/** A new job's input. */
export interface JobInput {
  /** Encoded file (any format the decoder takes), or audio already decoded. */
  file?: Uint8Array;
  decoded?: DecodedAudio;
  filename?: string;
  options: SttJobOptions;
  /** Caller-chosen id (idempotent submission). */
  jobId?: string;
}

/** Validates job options the schema cannot (language codes whisper knows). */
export function checkOptions(options: SttJobOptions): SttJobOptions {
  const language = options.language?.toLowerCase();
  if (language && language !== 'auto' && whisperLanguageId(language) < 0) {
    throw new SttError('UNSUPPORTED_LANGUAGE', `unknown language code "${options.language}"`);
  }
  return { ...options, ...(language ? { language } : {}) };
}

/**
 * Batch jobs: decode the upload, store the audio (object store) and the job state (KV), enqueue
 * the job on the work queue with `Nats-Msg-Id` = job id; read, cancel and watch jobs. Also fails
 * jobs whose deliveries ran out because their workers died (JetStream's max-deliveries advisory),
 * so no job ever stays `running` silently.
 */
@Injectable()
export class JobsService implements OnModuleInit, OnApplicationShutdown {
  #store?: SttJobStore;
  #queue?: WorkQueue<typeof SttJobMessage>;
  #advisory?: Subscription;
  #status: { ok: boolean; reason?: string } = { ok: false, reason: 'opening the job store' };
  #ready: Promise<void>;
  #resolveReady!: () => void;
  #closed = false;

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(HEALTH) private readonly health: HealthRegistry,
    @Inject(CONFIG) private readonly config: SttConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.#ready = new Promise((resolve) => (this.#resolveReady = resolve));
  }

  onModuleInit(): void {
    this.health.register('jobs', () => this.#status);
    void this.#init();
  }

  async #init(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.messaging.waitUntilConnected();
        const nc = this.messaging.connection;
        this.#store = await SttJobStore.open(nc, {
          storage: this.config.STT_JOB_STORAGE,
          ttlMs: this.config.STT_JOB_TTL_S * 1000,
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
        this.#advisory ??= nc.subscribe(STT_JETSTREAM.maxDeliveriesAdvisory, {
          queue: 'stt',
          callback: (err, msg) => {
            if (!err) void this.#onMaxDeliveries(msg.data);
          },
        });
        this.#status = { ok: true };
        this.#resolveReady();
        this.logger.info('init() | job store and queue ready');
        return;
      } catch (err) {
        this.#status = { ok: false, reason: `job store: ${(err as Error).message}` };
        this.logger.error('init() | cannot open the job store; retrying', {
          err: (err as Error).message,
        });
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  /** The store, once open; waits a little for it at start-up. */
  async store(): Promise<SttJobStore> {
    if (!this.#store) {
      await Promise.race([this.#ready, new Promise((r) => setTimeout(r, 5000))]);
    }
    if (!this.#store) {
      throw new SttError('UNAVAILABLE', `job store unavailable: ${this.#status.reason}`);
    }
    return this.#store;
  }

  /** Decodes an upload with the configured limits. */
  decode(file: Uint8Array): Promise<DecodedAudio> {
    return decodeAudio(file, {
      maxMs: this.config.STT_MAX_AUDIO_S * 1000,
      ffmpeg: this.config.STT_FFMPEG,
      timeoutMs: this.config.STT_DECODE_TIMEOUT_MS,
    });
  }

  /** Creates a job (idempotent by `jobId`) and returns its state. */
  submit(input: JobInput): Promise<SttJobStatus> {
    return storeErrors(this.#submit(input));
  }

  async #submit(input: JobInput): Promise<SttJobStatus> {
    const options = checkOptions(input.options);
    const store = await this.store();
    if (input.jobId) {
      const existing = await store.getStatus(input.jobId);
      if (existing) return existing;
    }
    const decoded = input.decoded ?? (await this.decode(input.file ?? new Uint8Array()));
    const jobId = input.jobId ?? `job_${randomBytes(12).toString('base64url')}`;
    await store.putAudio(jobId, decoded.pcm);
    const now = iso();
    const status: SttJobStatus = {
      jobId,
      state: 'queued',
      progress: 0,
      processedMs: 0,
      durationMs: decoded.durationMs,
      options,
      attempts: 0,
      ...(input.filename ? { filename: input.filename.slice(0, 512) } : {}),
      sizeBytes: input.file?.length ?? decoded.pcm.length,
      createdAt: now,
      updatedAt: now,
    };
    if (!(await store.createStatus(status))) {
      // The same id submitted concurrently: the first one wins.
      return (await store.getStatus(jobId)) ?? status;
    }
    try {
      await this.#queue?.enqueue(
        {
          jobId,
          audioObject: jobId,
          durationMs: decoded.durationMs,
          options,
          createdAt: now,
        },
        { msgId: jobId },
      );
    } catch (err) {
      // Not queued: do not leave a job that would stay `queued` forever.
      await store.kv.purge(`${jobId}.state`).catch(() => undefined);
      await store.deleteAudio(jobId);
      throw new SttError('UNAVAILABLE', `cannot enqueue the job: ${(err as Error).message}`);
    }
    this.logger.info('submit() | job queued', {
      jobId,
      durationMs: Math.round(decoded.durationMs),
      decoder: decoded.decoder,
    });
    return status;
  }

  /** A job's state and, when asked and available, its result. NOT_FOUND for unknown ids. */
  get(jobId: string, includeResult = false): Promise<{ job: SttJobStatus; result?: SttJobResult }> {
    return storeErrors(this.#get(jobId, includeResult));
  }

  async #get(
    jobId: string,
    includeResult: boolean,
  ): Promise<{ job: SttJobStatus; result?: SttJobResult }> {
    const store = await this.store();
    const job = await store.getStatus(jobId);
    if (!job) throw notFound(jobId);
    if (!includeResult || job.state !== 'completed') return { job };
    const result = await store.getResult(jobId);
    return result ? { job, result } : { job };
  }

  /** Cancels a queued or running job; CONFLICT when it already finished. */
  cancel(jobId: string): Promise<SttJobStatus> {
    return storeErrors(this.#cancel(jobId));
  }

  async #cancel(jobId: string): Promise<SttJobStatus> {
    const store = await this.store();
    const after = await store.mutateStatus(jobId, (s) =>
      TERMINAL.has(s.state)
        ? undefined
        : { ...s, state: 'cancelled', finishedAt: iso(), updatedAt: iso() },
    );
    if (!after) throw notFound(jobId);
    if (after.state !== 'cancelled') {
      throw new SttError('CONFLICT', `job ${jobId} already ${after.state}`, {
        details: { state: after.state },
      });
    }
    try {
      this.messaging.publish(sttEvents.jobCancelled, { jobId }, { tokens: [jobId] });
    } catch {
      // The worker also sees the state at its next window.
    }
    // The audio stays until a worker drops it: the one running the job when it stops, or the one
    // that picks a queued job up and sees `cancelled` (it also acks the message). Deleting it here
    // would pull the chunks from under a worker that is reading them.
    this.logger.info('cancel() | job cancelled', { jobId });
    return after;
  }

  /**
   * The server-sent events of a job: its current state, then segments and progress in order (from
   * the KV checkpoints, so nothing is lost across worker deaths or a late subscription), then one
   * terminal event.
   */
  async *events(jobId: string, signal: AbortSignal): AsyncGenerator<SttJobStreamEvent> {
    const store = await this.store();
    const first = await store.getStatus(jobId);
    if (!first) throw notFound(jobId);
    yield { type: 'state', data: first };
    if (TERMINAL.has(first.state)) {
      if (first.state === 'completed') yield* this.#replaySegments(store, jobId);
      yield { type: first.state as 'completed' | 'failed' | 'cancelled', data: first };
      return;
    }
    let lastWindow = -1;
    let segmentId = 0;
    let progress = -1;
    const durationMs = first.durationMs;
    for await (const change of store.watch(jobId, signal)) {
      if (change.kind === 'window') {
        const w = change.window;
        if (w.window !== lastWindow + 1) continue; // a duplicate (or out of order) checkpoint
        lastWindow = w.window;
        for (const segment of w.segments) {
          yield { type: 'segment', data: { id: segmentId++, ...segment } };
        }
        const p = durationMs > 0 ? Math.round((w.endMs / durationMs) * 1000) / 10 : 100;
        if (p > progress) {
          progress = p;
          yield { type: 'progress', data: { progress: p, processedMs: w.endMs, durationMs } };
        }
      } else if (change.kind === 'state') {
        const s = change.status;
        if (TERMINAL.has(s.state)) {
          if (s.state === 'completed' && progress < 100) {
            yield {
              type: 'progress',
              data: { progress: 100, processedMs: s.durationMs, durationMs },
            };
          }
          yield { type: s.state as 'completed' | 'failed' | 'cancelled', data: s };
          return;
        }
      }
    }
  }

  async *#replaySegments(store: SttJobStore, jobId: string): AsyncGenerator<SttJobStreamEvent> {
    const result = await store.getResult(jobId);
    for (const segment of result?.segments ?? []) yield { type: 'segment', data: segment };
    if (result) {
      yield {
        type: 'progress',
        data: { progress: 100, processedMs: result.durationMs, durationMs: result.durationMs },
      };
    }
  }

  /** Waits until the job finishes; returns its final state and result (if completed). */
  async waitFor(
    jobId: string,
    timeoutMs: number,
  ): Promise<{ job: SttJobStatus; result?: SttJobResult }> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      for await (const e of this.events(jobId, ac.signal)) {
        if (e.type === 'completed' || e.type === 'failed' || e.type === 'cancelled') {
          return this.get(jobId, true);
        }
      }
      throw new SttError('TIMEOUT', `job ${jobId} did not finish within ${timeoutMs} ms`);
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  }

  /** JetStream gave up delivering a job (its workers died or hung each time): fail it, loudly. */
  async #onMaxDeliveries(data: Uint8Array): Promise<void> {
    try {
      const adv = decodeJson(data) as { stream_seq?: number; deliveries?: number };
      if (typeof adv.stream_seq !== 'number') return;
      const nc = this.messaging.connection;
      const jsm = await nc.jetstreamManager();
      const sm = await jsm.streams.getMessage(STT_JETSTREAM.stream, { seq: adv.stream_seq });
      const parsed = SttJobMessage.safeParse(decodeJson(sm.data));
      await jsm.streams.deleteMessage(STT_JETSTREAM.stream, adv.stream_seq).catch(() => false);
      if (!parsed.success) return;
      const store = await this.store();
      const jobId = parsed.data.jobId;
      const last = (await store.getStatus(jobId))?.error;
      const deliveries = adv.deliveries ?? this.config.STT_JOB_MAX_DELIVER;
      const failed = await markFailed(
        store,
        jobId,
        {
          code: 'WORKER_LOST',
          message:
            `no worker finished the job in ${deliveries} deliveries (workers died or hung)` +
            (last ? `; last error: ${last.code}: ${last.message}` : ''),
          retryable: false,
        },
        deliveries,
        {
          failed: (e) => {
            try {
              this.messaging.publish(sttEvents.jobFailed, e, { tokens: [e.jobId] });
            } catch {
              // state is stored; the event is best effort
            }
          },
        },
      );
      if (failed) {
        this.logger.error('maxDeliveries() | job failed: deliveries exhausted', {
          jobId,
          deliveries,
        });
      }
      await store.deleteAudio(jobId);
    } catch (err) {
      this.logger.error('maxDeliveries() | cannot handle the advisory', {
        err: (err as Error).message,
      });
    }
  }

  onApplicationShutdown(): void {
    this.#closed = true;
    this.#advisory?.unsubscribe();
  }
}

/** JetStream failures (NATS down, timeouts) become a retryable UNAVAILABLE with the reason. */
async function storeErrors<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof SttError) throw err;
    throw new SttError('UNAVAILABLE', `job store unavailable: ${(err as Error)?.message}`, {
      cause: err,
    });
  }
}

function notFound(jobId: string): SttError {
  return new SttError('NOT_FOUND', `no job ${jobId}`);
}
