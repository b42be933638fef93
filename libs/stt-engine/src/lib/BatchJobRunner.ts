import { bytesToFloat32 } from '@parley/audio';
import {
  type ErrorBody,
  type SttJobCompletedEvent,
  type SttJobFailedEvent,
  type SttJobMessage,
  type SttJobProgressEvent,
  type SttJobResult,
  type SttJobSegment,
  type SttJobSegmentEvent,
  type SttJobStatus,
} from '@parley/contracts';
import { type LongAudioProgressEvent, transcribeLong } from './LongAudioTranscriber';
import { STT_SAMPLE_RATE, type SttEngine, type SttSegment } from './SttEngine';
import { SttEngineError } from './SttEngineError';
import { SttError } from './SttError';
import { type JobStore, type SttJobWindow } from './SttJobStore';
import { type SttLogger, silentSttLogger } from './SttLogger';

/** Where a runner announces what it does (NATS events in the worker). */
export interface BatchEventSink {
  progress(e: SttJobProgressEvent): void;
  segment(e: SttJobSegmentEvent): void;
  completed(e: SttJobCompletedEvent): void;
  failed(e: SttJobFailedEvent): void;
}

/** One delivery of a job, as the work queue hands it over. */
export interface BatchDelivery {
  /** 1 on the first delivery. */
  deliveryCount: number;
  /** Extends the ack deadline. */
  working(): void;
}

/** Options of {@link BatchJobRunner}. */
export interface BatchJobRunnerOptions {
  engine: SttEngine;
  store: JobStore;
  events: BatchEventSink;
  workerId: string;
  /** Model facts copied into results. */
  model: () => { name: string; synthetic: boolean };
  /** Window length, ms (≤ 30000). */
  windowMs: number;
  /**
   * Window ends move back by up to this much to a quiet spot (between words). Default
   * min(3000, windowMs / 4).
   */
  cutSearchMs?: number;
  /** Pre-emptions of one window by realtime calls before realtime calls wait for it. */
  maxPreemptions: number;
  /** A pre-empted window restarts at half its length, down to this, ms. Default min(windowMs, 5000). */
  minWindowMs?: number;
  /** Skips windows without speech (a VAD); default: RMS only. */
  speechGate?: (window: Float32Array) => boolean;
  /** While a window runs, `working()` is sent this often, ms. */
  heartbeatMs: number;
  /**
   * If no window finishes for this long, `working()` stops, so JetStream hands the job to another
   * worker (a hung engine must not hold a job forever). Default 10 min.
   */
  stallMs?: number;
  logger?: SttLogger;
}

const iso = () => new Date().toISOString();
const TERMINAL = new Set<SttJobStatus['state']>(['completed', 'failed', 'cancelled']);

/**
 * Runs batch jobs on a worker: resumes from the last stored window, transcribes window by window
 * at batch priority (realtime calls pre-empt windows), checkpoints each window in the store before
 * announcing it, and stores the result once. Resolving means "ack"; throwing an error with
 * `retryable: true` means "redeliver", otherwise the job is dead-lettered via {@link deadLetter}.
 */
export class BatchJobRunner {
  readonly #o: BatchJobRunnerOptions;
  readonly #logger: SttLogger;
  #current?: { jobId: string; controller: AbortController };

  constructor(options: BatchJobRunnerOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentSttLogger;
  }

  /** The job in hand. */
  get currentJobId(): string | undefined {
    return this.#current?.jobId;
  }

  /** Stops the job in hand if it is `jobId` (it was cancelled). */
  cancel(jobId: string): void {
    if (this.#current?.jobId === jobId) this.#current.controller.abort('cancelled');
  }

  /** Stops the job in hand so it is redelivered (shutdown). */
  interrupt(): void {
    this.#current?.controller.abort('shutdown');
  }

  /** Processes one delivery of a job. */
  async run(msg: SttJobMessage, delivery: BatchDelivery): Promise<void> {
    const { store } = this.#o;
    const jobId = msg.jobId;
    const status = await store.getStatus(jobId);
    if (!status) {
      throw new SttError('INTERNAL', `job ${jobId} has no stored state (expired?)`, {
        retryable: false,
      });
    }
    if (TERMINAL.has(status.state)) {
      this.#logger.info('run() | job already finished, acking', { jobId, state: status.state });
      if (status.state !== 'completed') await store.deleteAudio(msg.audioObject);
      return;
    }
    if (await store.getResult(jobId)) {
      // A previous delivery stored the result and died before acking.
      await this.#complete(msg, delivery, undefined);
      return;
    }

    // In hand from here, so a cancellation arriving while the state is written is not missed.
    const controller = new AbortController();
    this.#current = { jobId, controller };
    const running = await store
      .mutateStatus(jobId, (s) =>
        TERMINAL.has(s.state)
          ? undefined
          : {
              ...s,
              state: 'running',
              attempts: delivery.deliveryCount,
              workerId: this.#o.workerId,
              startedAt: s.startedAt ?? iso(),
              updatedAt: iso(),
            },
      )
      .catch((err: unknown) => {
        this.#current = undefined;
        throw err;
      });
    if (!running || running.state !== 'running') {
      this.#current = undefined;
      if (running?.state === 'cancelled') await store.deleteAudio(msg.audioObject);
      return;
    }
    let lastProgressAt = Date.now();
    const stallMs = this.#o.stallMs ?? 600_000;
    const beat = setInterval(() => {
      if (Date.now() - lastProgressAt < stallMs) delivery.working();
      else
        this.#logger.error('run() | no window finished for too long; letting the job go', {
          jobId,
          stallMs,
        });
    }, this.#o.heartbeatMs);
    try {
      const bytes = await store.getAudio(msg.audioObject);
      if (!bytes) {
        throw new SttError('AUDIO_MISSING', `the audio of job ${jobId} is gone (expired?)`, {
          retryable: false,
        });
      }
      const pcm = bytesToFloat32(bytes);
      const totalMs = (pcm.length * 1000) / STT_SAMPLE_RATE;
      const done = contiguous(await store.listWindows(jobId));
      let nextWindow = done.length;
      let resumeMs = done.at(-1)?.endMs ?? 0;
      let segmentBase = done.reduce((n, w) => n + w.segments.length, 0);
      if (resumeMs > 0) {
        this.#logger.info('run() | resuming job from its last checkpoint', {
          jobId,
          resumeMs,
          windows: nextWindow,
          attempt: delivery.deliveryCount,
        });
      }
      if (pcm.length > 0 && resumeMs < totalMs) {
        let pending: SttSegment[] = [];
        const gen = transcribeLong(this.#o.engine, pcm, {
          startMs: resumeMs,
          windowMs: this.#o.windowMs,
          cutSearchMs: this.#o.cutSearchMs ?? Math.min(3000, Math.floor(this.#o.windowMs / 4)),
          priority: 'batch',
          maxPreemptions: this.#o.maxPreemptions,
          minWindowMs: this.#o.minWindowMs,
          speechGate: this.#o.speechGate,
          language: msg.options.language,
          prompt: msg.options.prompt,
          translate: msg.options.translate,
          temperature: msg.options.temperature,
          signal: controller.signal,
        });
        for await (const e of gen) {
          if (e.type === 'segment') {
            pending.push(e.segment);
            continue;
          }
          const window = this.#window(e, nextWindow, pending, delivery.deliveryCount);
          await store.putWindow(jobId, window);
          lastProgressAt = Date.now();
          delivery.working();
          const after = await store.mutateStatus(jobId, (s) =>
            s.state !== 'running'
              ? undefined
              : { ...s, progress: e.percent, processedMs: e.processedMs, updatedAt: iso() },
          );
          if (after?.state === 'cancelled') controller.abort('cancelled');
          window.segments.forEach((segment, i) =>
            this.#o.events.segment({
              jobId,
              window: window.window,
              segment: { id: segmentBase + i, ...segment },
            }),
          );
          this.#o.events.progress({
            jobId,
            progress: e.percent,
            processedMs: e.processedMs,
            durationMs: totalMs,
            window: window.window,
            attempt: delivery.deliveryCount,
            workerId: this.#o.workerId,
          });
          segmentBase += window.segments.length;
          resumeMs = window.endMs;
          nextWindow++;
          pending = [];
          if (controller.signal.aborted) break;
        }
      }
      if (controller.signal.aborted) throw new SttEngineError('ABORTED', 'job interrupted');
      await this.#complete(msg, delivery, totalMs);
    } catch (err) {
      const reason = controller.signal.aborted ? String(controller.signal.reason) : undefined;
      if (reason === 'cancelled') {
        this.#logger.info('run() | job cancelled, stopping', { jobId });
        await store.deleteAudio(msg.audioObject);
        return;
      }
      if (reason === 'shutdown') {
        throw new SttError('CLOSED', 'worker stopping; the job resumes elsewhere', {
          retryable: true,
        });
      }
      // Engine and job errors carry their own `retryable`; anything else here is infrastructure
      // (NATS down, a KV timeout): transient, so the job is redelivered and resumes.
      const e =
        err instanceof SttError || err instanceof SttEngineError
          ? SttError.from(err)
          : new SttError('UNAVAILABLE', `job storage failed: ${(err as Error)?.message}`, {
              retryable: true,
              cause: err,
            });
      await store
        .mutateStatus(jobId, (s) =>
          TERMINAL.has(s.state) ? undefined : { ...s, error: e.toBody(), updatedAt: iso() },
        )
        .catch(() => undefined);
      throw e;
    } finally {
      clearInterval(beat);
      if (this.#current?.controller === controller) this.#current = undefined;
    }
  }

  /**
   * A job given up: the last delivery failed (or its payload is invalid). Marks it failed with its
   * error and announces it; never silent.
   */
  async deadLetter(jobId: string | undefined, err: unknown, attempts: number): Promise<void> {
    if (!jobId) return;
    const body: ErrorBody = SttError.from(err).toBody();
    await markFailed(this.#o.store, jobId, body, attempts, this.#o.events);
  }

  #window(
    e: LongAudioProgressEvent,
    index: number,
    segments: SttSegment[],
    attempt: number,
  ): SttJobWindow {
    return {
      window: index,
      startMs: e.windowStartMs,
      endMs: e.windowEndMs,
      skipped: e.skipped,
      segments,
      processMs: e.timing?.processMs ?? 0,
      workerId: this.#o.workerId,
      attempt,
    };
  }

  /** Builds and stores the result (once), marks the job completed, announces it, drops the audio. */
  async #complete(
    msg: SttJobMessage,
    delivery: BatchDelivery,
    totalMs: number | undefined,
  ): Promise<void> {
    const { store } = this.#o;
    const jobId = msg.jobId;
    let result = await store.getResult(jobId);
    let created = false;
    if (!result) {
      const windows = contiguous(await store.listWindows(jobId));
      const segments: SttJobSegment[] = windows
        .flatMap((w) => w.segments)
        .map((s, id) => ({ id, ...s }));
      const model = this.#o.model();
      result = {
        jobId,
        text: segments.map((s) => s.text).join(' '),
        language: msg.options.language ?? 'en',
        translate: msg.options.translate ?? false,
        durationMs: totalMs ?? msg.durationMs,
        segments,
        workerId: this.#o.workerId,
        processMs: windows.reduce((n, w) => n + w.processMs, 0),
        model: { name: model.name, synthetic: model.synthetic },
        completedAt: iso(),
      } satisfies SttJobResult;
      created = await store.createResult(result);
      if (!created) result = (await store.getResult(jobId)) ?? result;
    }
    const final = await store.mutateStatus(jobId, (s) =>
      s.state === 'completed'
        ? undefined
        : {
            ...s,
            state: 'completed',
            progress: 100,
            processedMs: result.durationMs,
            finishedAt: iso(),
            updatedAt: iso(),
            error: undefined,
          },
    );
    if (created) {
      this.#o.events.completed({
        jobId,
        durationMs: result.durationMs,
        segments: result.segments.length,
        processMs: result.processMs,
        workerId: result.workerId,
        attempts: final?.attempts ?? delivery.deliveryCount,
      });
      this.#logger.info('run() | job completed', {
        jobId,
        segments: result.segments.length,
        durationMs: Math.round(result.durationMs),
        processMs: Math.round(result.processMs),
        attempt: delivery.deliveryCount,
      });
    }
    await store.deleteAudio(msg.audioObject);
  }
}

/** Marks a job failed (unless it already finished) and announces it. */
export async function markFailed(
  store: JobStore,
  jobId: string,
  error: ErrorBody,
  attempts: number,
  events: Pick<BatchEventSink, 'failed'>,
): Promise<boolean> {
  let changed = false;
  await store.mutateStatus(jobId, (s) => {
    if (TERMINAL.has(s.state)) return undefined;
    changed = true;
    return {
      ...s,
      state: 'failed',
      error,
      attempts: Math.max(s.attempts, attempts),
      finishedAt: iso(),
      updatedAt: iso(),
    };
  });
  if (changed) events.failed({ jobId, error, attempts });
  return changed;
}

/** The windows from 0 without gaps (a gap would mean a corrupt checkpoint; resume before it). */
function contiguous(windows: SttJobWindow[]): SttJobWindow[] {
  const out: SttJobWindow[] = [];
  for (const w of windows) {
    if (w.window !== out.length) break;
    if (out.length > 0 && Math.abs(w.startMs - (out.at(-1)?.endMs ?? 0)) > 1) break;
    out.push(w);
  }
  return out;
}
