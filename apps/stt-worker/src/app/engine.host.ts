import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { SttWorkerConfig } from '@parley/config';
import {
  type SttWorkerHeartbeat,
  type SttWorkerModel,
  sttContracts,
  sttEvents,
} from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import type { HealthRegistry, Logger } from '@parley/observability';
import { CONFIG, HEALTH, LOGGER, MESSAGING, SERVICE_INFO, type ServiceInfo } from '@parley/runtime';
import {
  SttError,
  type SttModelInfo,
  WHISPER_LANGUAGES,
  WhisperEngine,
  readGgmlModelInfo,
} from '@parley/stt-engine';
import { WorkerMetrics } from './worker.metrics';

type WorkerState = SttWorkerHeartbeat['state'];

/** Root of the workspace (the directory whose package.json is named `parley`). */
function workspaceRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'parley') return dir;
  }
  return process.cwd();
}

/**
 * The worker's engine: loads the model once (in the background, so `/ready` can say "loading"),
 * reports readiness only after the load, announces the worker on `stt.worker.heartbeat` at start,
 * on every state change, on `stt.worker.discover` and every `STT_WORKER_HEARTBEAT_MS`, and swaps
 * models on `stt.model.load.<workerId>` (whisper.cpp server's `POST /load`).
 */
@Injectable()
export class EngineHost implements OnModuleInit, OnApplicationShutdown {
  /** Subject-token-safe id of this worker (its node id). */
  readonly workerId: string;
  readonly engine: WhisperEngine;
  readonly threads: number;
  #state: WorkerState = 'loading';
  #reason?: string = 'loading the model';
  #model?: SttModelInfo;
  #timer?: NodeJS.Timeout;
  readonly #readyListeners: Array<() => void> = [];
  /** Filled by the lanes for the heartbeat. */
  lanes = {
    streams: () => 0,
    realtimeEnabled: () => false,
    batchEnabled: () => false,
    batchJobId: (): string | undefined => undefined,
  };

  constructor(
    @Inject(CONFIG) private readonly config: SttWorkerConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(HEALTH) private readonly health: HealthRegistry,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
    @Inject(WorkerMetrics) private readonly metrics: WorkerMetrics,
  ) {
    this.workerId = info.nodeId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
    this.threads = config.STT_WORKER_THREADS;
    this.engine = new WhisperEngine({
      addonPath: config.PARLEY_WHISPER_ADDON,
      logger,
      batchYieldMs: config.STT_WORKER_BATCH_YIELD_MS,
    });
  }

  /** The configured model: real weights if given, else the synthetic fixture. */
  get initialModelPath(): string {
    return (
      this.config.PARLEY_WHISPER_MODEL ??
      this.config.PARLEY_WHISPER_SYNTHETIC_MODEL ??
      join(workspaceRoot(), '.parley', 'models', 'ggml-synthetic-tiny.bin')
    );
  }

  get state(): WorkerState {
    return this.#state;
  }

  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** The loaded model. */
  get model(): SttModelInfo | undefined {
    return this.#model;
  }

  /** Runs `fn` once the model is loaded (at once if it is). */
  onReady(fn: () => void): void {
    if (this.ready) fn();
    else this.#readyListeners.push(fn);
  }

  onModuleInit(): void {
    this.health.register('model', () => {
      if (this.#state !== 'ready') return { ok: false, reason: this.#reason ?? this.#state };
      const m = this.#model;
      return {
        ok: true,
        reason: m?.synthetic
          ? `SYNTHETIC MODEL ${m.name}: random weights, transcripts are meaningless (set PARLEY_WHISPER_MODEL)`
          : `${m?.name} (${m?.type}, ${this.threads} threads, ${this.config.STT_WORKER_DEVICE})`,
      };
    });
    this.messaging.subscribe(sttEvents.workerDiscover, () => this.announce());
    this.messaging.serve(sttContracts.modelLoad, (req) => this.swapModel(req.model), {
      tokens: [this.workerId],
      queue: false,
    });
    this.#timer = setInterval(() => this.announce(), this.config.STT_WORKER_HEARTBEAT_MS);
    this.#timer.unref();
    void this.messaging.waitUntilConnected().then(() => this.announce());
    void this.#loadInitial();
  }

  async #loadInitial(): Promise<void> {
    const path = this.initialModelPath;
    if (!this.config.PARLEY_WHISPER_MODEL) {
      this.logger.warn(
        'load() | PARLEY_WHISPER_MODEL is not set: using the SYNTHETIC test model (random weights, meaningless text)',
        { model: path },
      );
    }
    try {
      await this.#load(path);
    } catch (err) {
      this.#setState('failed', `model load failed: ${(err as Error).message}`);
      this.logger.error('load() | cannot load the model; the worker stays not ready', {
        model: path,
        err: (err as Error).message,
      });
    }
  }

  async #load(path: string): Promise<SttModelInfo> {
    this.#setState('loading', `loading ${path}`);
    const gpu = this.config.STT_WORKER_DEVICE !== 'cpu';
    if (gpu) {
      this.logger.warn(
        'load() | a GPU device was requested; whisper.cpp uses it only if the addon was built with that backend',
        { device: this.config.STT_WORKER_DEVICE },
      );
    }
    const model = await this.engine.load(path, { threads: this.threads, gpu });
    this.#model = model;
    this.metrics.modelLoaded.set(1);
    this.#setState(
      'ready',
      model.synthetic ? 'SYNTHETIC MODEL: random weights, transcripts are meaningless' : undefined,
    );
    for (const fn of this.#readyListeners.splice(0)) fn();
    return model;
  }

  /** `POST /load`: only files under the allowed directories, validated before whisper.cpp sees them. */
  async swapModel(requested: string): Promise<SttWorkerModel> {
    const path = resolve(requested);
    const allowed = this.#modelDirs();
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      throw new SttError('MODEL_NOT_FOUND', `model not found: ${requested}`);
    }
    if (!allowed.some((dir) => real === dir || real.startsWith(dir + sep))) {
      throw new SttError(
        'MODEL_FORBIDDEN',
        `models may be loaded from ${allowed.join(', ')} only (STT_WORKER_MODEL_DIRS)`,
      );
    }
    readGgmlModelInfo(real); // MODEL_INVALID before the current model is dropped
    const previous = this.#model?.path;
    try {
      const model = await this.#load(real);
      this.logger.info('swapModel() | model swapped', { from: previous, to: real });
      return this.#wireModel(model);
    } catch (err) {
      // Keep serving: reload what we had.
      if (previous) await this.#load(previous).catch(() => undefined);
      throw SttError.from(err);
    }
  }

  #modelDirs(): string[] {
    const dirs = this.config.STT_WORKER_MODEL_DIRS
      ? this.config.STT_WORKER_MODEL_DIRS.split(',').map((d) => d.trim())
      : [dirname(this.initialModelPath), join(workspaceRoot(), '.parley', 'models')];
    const out: string[] = [];
    for (const d of dirs.filter(Boolean)) {
      try {
        out.push(realpathSync(d));
      } catch {
        // a configured directory that does not exist allows nothing
      }
    }
    return out;
  }

  #wireModel(m: SttModelInfo): SttWorkerModel {
    return {
      name: m.name,
      type: m.type,
      multilingual: m.multilingual,
      synthetic: m.synthetic,
      sizeBytes: m.sizeBytes,
      loadMs: Math.round(m.loadMs),
    };
  }

  #setState(state: WorkerState, reason?: string): void {
    const changed = state !== this.#state || reason !== this.#reason;
    this.#state = state;
    this.#reason = reason;
    if (state !== 'ready') this.metrics.modelLoaded.set(0);
    if (changed) this.announce();
  }

  /** Publishes the heartbeat now (never throws: NATS may be down). */
  announce(): void {
    const m = this.#model;
    const hb: SttWorkerHeartbeat = {
      workerId: this.workerId,
      version: this.info.version,
      state: this.#state,
      ...(this.#reason ? { reason: this.#reason.slice(0, 1000) } : {}),
      device: this.config.STT_WORKER_DEVICE,
      gpu: this.config.STT_WORKER_DEVICE !== 'cpu',
      ...(m && this.#state === 'ready' ? { model: this.#wireModel(m) } : {}),
      threads: this.threads,
      languages: m ? (m.multilingual ? WHISPER_LANGUAGES.slice(0, m.languageCount) : ['en']) : [],
      lanes: {
        realtime: {
          enabled: this.lanes.realtimeEnabled(),
          pending: this.engine.pending,
          streams: this.lanes.streams(),
        },
        batch: {
          enabled: this.lanes.batchEnabled(),
          ...(this.lanes.batchJobId() ? { jobId: this.lanes.batchJobId() } : {}),
        },
      },
      heartbeatMs: this.config.STT_WORKER_HEARTBEAT_MS,
      sentAt: Date.now(),
    };
    try {
      if (this.messaging.connected) this.messaging.publish(sttEvents.workerHeartbeat, hb);
    } catch (err) {
      this.logger.debug('announce() | heartbeat not sent', { err: (err as Error).message });
    }
  }

  /** Marks the worker stopping (announced), for the lanes' shutdown. */
  stopping(): void {
    this.#setState('stopping', 'shutting down');
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#state !== 'stopping') this.stopping();
    await this.engine.close();
  }
}
