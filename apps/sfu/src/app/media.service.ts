import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { SfuConfig } from '@parley/config';
import {
  MediaError,
  RoomManager,
  WorkerPool,
  type RoomOptions,
  type WorkerPoolOptions,
} from '@parley/media';
import type { EngineLogger, HealthRegistry, Logger } from '@parley/observability';
import { CONFIG, HEALTH, LOGGER, SERVICE_INFO, type ServiceInfo } from '@parley/runtime';

/** Pool options from the SFU's config. */
export function poolOptions(config: SfuConfig): WorkerPoolOptions {
  return {
    workerBin: config.MEDIASOUP_WORKER_BIN,
    numWorkers: config.SFU_WORKERS === 0 ? undefined : config.SFU_WORKERS,
    listenIp: config.SFU_LISTEN_IP,
    announcedAddress: config.SFU_ANNOUNCED_ADDRESS,
    basePort: config.SFU_RTC_PORT_BASE === 0 ? undefined : config.SFU_RTC_PORT_BASE,
    resourcePollIntervalMs: config.SFU_WORKER_POLL_MS,
    logLevel: config.SFU_WORKER_LOG_LEVEL,
  };
}

/** Default room options from the SFU's config. */
export function roomDefaults(config: SfuConfig): RoomOptions {
  return {
    idleTimeoutMs: config.SFU_ROOM_IDLE_TIMEOUT_S * 1000,
    consumersPerRouter: config.SFU_CONSUMERS_PER_ROUTER,
    audioLevel: { intervalMs: config.SFU_AUDIO_LEVEL_INTERVAL_MS },
  };
}

/**
 * The media engine's view of the service logger: debug and info lines are dropped before winston
 * formats them when their level is off (winston formats every line, then filters it; the engine
 * logs per transport and peer).
 */
export function engineLogger(logger: Logger): EngineLogger {
  return {
    debug: (message, fields) => {
      if (logger.isDebugEnabled()) logger.debug(message, fields);
    },
    info: (message, fields) => {
      if (logger.isInfoEnabled()) logger.info(message, fields);
    },
    warn: (message, fields) => logger.warn(message, fields),
    error: (message, fields) => logger.error(message, fields),
  };
}

/**
 * NATS subject token of this node. Node ids may contain dots (PARLEY_NODE_ID allows them), which
 * would split a subject token; directed requests use this sanitised form everywhere.
 */
export function nodeToken(nodeId: string): string {
  return nodeId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
}

/**
 * Owns the media model of this process: starts the worker pool in the background (retrying while
 * it cannot start, e.g. the worker binary is still being built; `/ready` says why), the room
 * manager on top of it, and closes both on shutdown. Listeners registered with `onStarted` are
 * attached to every pool/manager it creates.
 */
@Injectable()
export class MediaService implements OnApplicationBootstrap, OnApplicationShutdown {
  /** This node's subject token (directed requests, `nodeId` of replies and events). */
  readonly nodeId: string;
  #pool?: WorkerPool;
  #manager?: RoomManager;
  #startError?: string;
  #retryTimer?: NodeJS.Timeout;
  #stopped = false;
  readonly #onStarted: ((manager: RoomManager, pool: WorkerPool) => void)[] = [];

  constructor(
    @Inject(CONFIG) private readonly config: SfuConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(HEALTH) health: HealthRegistry,
    @Inject(SERVICE_INFO) info: ServiceInfo,
  ) {
    this.nodeId = nodeToken(info.nodeId);
    health.register('mediasoup', () => this.readiness());
  }

  onApplicationBootstrap(): void {
    void this.#start();
  }

  /** Runs `listener` once the pool and manager are up (immediately if they already are). */
  onStarted(listener: (manager: RoomManager, pool: WorkerPool) => void): void {
    this.#onStarted.push(listener);
    if (this.#manager && this.#pool) listener(this.#manager, this.#pool);
  }

  /** The room manager; `NO_WORKER` (retryable) while the pool is not up. */
  get manager(): RoomManager {
    if (!this.#manager) {
      throw new MediaError(
        'NO_WORKER',
        this.#startError
          ? `mediasoup workers failed to start: ${this.#startError}`
          : 'mediasoup workers are starting',
      );
    }
    return this.#manager;
  }

  /** The pool, if started. */
  get pool(): WorkerPool | undefined {
    return this.#pool;
  }

  /** Readiness: at least one live worker; the reason lists them (or says why there are none). */
  readiness(): { ok: boolean; reason: string } {
    const pool = this.#pool;
    if (!pool) {
      return {
        ok: false,
        reason: this.#startError
          ? `mediasoup workers failed to start: ${this.#startError}`
          : 'mediasoup workers starting',
      };
    }
    const m = pool.metrics();
    const pids = m.workers.filter((w) => w.alive).map((w) => w.pid);
    const reason = `${m.liveWorkers}/${pool.size} mediasoup workers up (pids ${pids.join(',') || 'none'})`;
    return { ok: m.liveWorkers > 0, reason };
  }

  async onApplicationShutdown(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    // Rooms first: their `closed` events still reach NATS (peers reconnect elsewhere).
    this.#manager?.close();
    this.#pool?.close();
    this.logger.info('shutdown() | media closed');
  }

  async #start(): Promise<void> {
    const options = poolOptions(this.config);
    try {
      const pool = await WorkerPool.create({ ...options, logger: this.logger });
      if (this.#stopped) {
        pool.close();
        return;
      }
      this.#pool = pool;
      this.#manager = new RoomManager(pool, {
        defaults: roomDefaults(this.config),
        logger: engineLogger(this.logger),
      });
      this.#startError = undefined;
      this.logger.info('start() | mediasoup workers up', {
        workers: pool.size,
        pids: pool.workers().map((w) => w.pid),
        ports: pool.metrics().workers.map((w) => w.udpPort),
      });
      for (const listener of this.#onStarted) listener(this.#manager, pool);
    } catch (err) {
      this.#startError = err instanceof Error ? err.message : String(err);
      this.logger.error('start() | mediasoup workers failed to start; retrying', {
        err: this.#startError,
        retryInMs: this.config.SFU_START_RETRY_MS,
      });
      if (!this.#stopped) {
        this.#retryTimer = setTimeout(() => void this.#start(), this.config.SFU_START_RETRY_MS);
        this.#retryTimer.unref();
      }
    }
  }
}
