import { availableParallelism } from 'node:os';

import type { types as ms } from 'mediasoup';

import { MediaError } from './MediaError';
import { silentLogger, type MediaLogger } from './MediaLogger';
import {
  MediaWorker,
  type MediaWorkerSettings,
  type WebRtcServerListen,
  type WorkerMetrics,
  useWorkerBinary,
} from './MediaWorker';
import { pickLeastLoaded } from './Placement';
import { TypedEmitter } from './TypedEmitter';

/** Options of a `WorkerPool`. */
export interface WorkerPoolOptions extends MediaWorkerSettings {
  /** Path of the mediasoup-worker binary; default mediasoup's own choice (see `useWorkerBinary`). */
  workerBin?: string;
  /** Number of workers; default one per core (`os.availableParallelism()`). */
  numWorkers?: number;
  /** IP the WebRtcServers bind; default `0.0.0.0`. */
  listenIp?: string;
  /** Address announced in ICE candidates (public IP / hostname behind NAT). */
  announcedAddress?: string;
  /**
   * First WebRtcServer port: worker `i` listens on UDP and TCP `basePort + i`. Undefined lets the
   * OS pick free ports (tests).
   */
  basePort?: number;
  /** How often `getResourceUsage()` is polled, ms; default 5000; 0 disables polling. */
  resourcePollIntervalMs?: number;
  /** Delay before re-spawning a worker after a failed replacement, ms; default 1000. */
  replaceRetryDelayMs?: number;
  logger?: MediaLogger;
}

/** Payload of `workerdied`. */
export interface WorkerDiedEvent {
  index: number;
  pid: number;
  error: Error;
  /** Rooms that had a router on the worker; they must be re-created. */
  roomIds: string[];
}

/** Payload of `workerreplaced`. */
export interface WorkerReplacedEvent {
  index: number;
  oldPid: number;
  newPid: number;
  /** Rooms that had a router on the dead worker. */
  roomIds: string[];
}

/** Events of a `WorkerPool`. */
export type WorkerPoolEvents = {
  /** A worker process died; emitted before the replacement is spawned. */
  workerdied: [WorkerDiedEvent];
  /** A replacement for a dead worker is up and serving. */
  workerreplaced: [WorkerReplacedEvent];
  /** Spawning a replacement failed; it is retried after `replaceRetryDelayMs`. */
  workerreplacefailed: [{ index: number; error: Error }];
};

/** Pool-wide metrics as plain data (exported to Prometheus by the app). */
export interface PoolMetrics {
  workers: WorkerMetrics[];
  /** Workers currently alive. */
  liveWorkers: number;
  /** Workers replaced since the pool started. */
  replacements: number;
}

/**
 * A fixed number of mediasoup workers, each with a WebRtcServer on its own port. Routers are placed
 * on the least-loaded live worker. A worker that dies is replaced in the same slot (same port) and
 * the pool reports which rooms were on it; re-creating those rooms is the `RoomManager`'s job.
 */
export class WorkerPool extends TypedEmitter<WorkerPoolEvents> {
  readonly #options: Required<
    Pick<
      WorkerPoolOptions,
      'numWorkers' | 'listenIp' | 'resourcePollIntervalMs' | 'replaceRetryDelayMs'
    >
  > &
    WorkerPoolOptions;
  readonly #slots: (MediaWorker | undefined)[];
  // Replacements in flight, by slot index; `pickWorker` waits on them when nothing is alive.
  readonly #pending = new Map<number, Promise<MediaWorker | undefined>>();
  #pollTimer?: NodeJS.Timeout;
  #replacements = 0;
  #closed = false;

  private constructor(options: WorkerPoolOptions) {
    super(options.logger ?? silentLogger);
    this.#options = {
      ...options,
      numWorkers: options.numWorkers ?? availableParallelism(),
      listenIp: options.listenIp ?? '0.0.0.0',
      resourcePollIntervalMs: options.resourcePollIntervalMs ?? 5000,
      replaceRetryDelayMs: options.replaceRetryDelayMs ?? 1000,
    };
    if (!Number.isInteger(this.#options.numWorkers) || this.#options.numWorkers < 1) {
      throw new MediaError('BAD_REQUEST', `numWorkers must be a positive integer`);
    }
    this.#slots = new Array(this.#options.numWorkers).fill(undefined);
  }

  /** Starts `numWorkers` workers; rejects (closing those started) if any fails to start. */
  static async create(options: WorkerPoolOptions = {}): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    useWorkerBinary(options.workerBin);
    try {
      await Promise.all(pool.#slots.map((_, i) => pool.#spawn(i)));
    } catch (err) {
      pool.close();
      throw err;
    }
    const interval = pool.#options.resourcePollIntervalMs;
    if (interval > 0) {
      pool.#pollTimer = setInterval(() => void pool.sampleResourceUsage(), interval);
      pool.#pollTimer.unref();
    }
    return pool;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Configured number of workers. */
  get size(): number {
    return this.#slots.length;
  }

  /** Live workers. */
  workers(): MediaWorker[] {
    return this.#slots.filter((w): w is MediaWorker => !!w && w.alive);
  }

  /**
   * The least-loaded live worker, preferring slots not in `avoid`. When none is alive but a
   * replacement is being spawned, waits for it (up to `timeoutMs`); otherwise `NO_WORKER`.
   */
  async pickWorker(
    avoid: ReadonlySet<number> = new Set(),
    timeoutMs = 10_000,
  ): Promise<MediaWorker> {
    if (this.#closed) throw new MediaError('INVALID_STATE', 'worker pool is closed');
    const live = this.workers();
    const best = pickLeastLoaded(
      live.map((w) => ({ ...w.metrics(), worker: w })),
      avoid,
    );
    if (best) return best.worker;
    if (this.#pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      });
      const first = await Promise.race([
        Promise.any([...this.#pending.values()].map((p) => p.then((w) => w ?? Promise.reject()))),
        timeout,
      ]).catch(() => undefined);
      clearTimeout(timer);
      if (first?.alive) return first;
    }
    throw new MediaError('NO_WORKER', 'no live mediasoup worker available');
  }

  /** Creates a router for `roomId` on the least-loaded worker (see `pickWorker`). */
  async createRouter(
    roomId: string,
    mediaCodecs: ms.RtpCodecCapability[],
    avoid?: ReadonlySet<number>,
  ): Promise<{ worker: MediaWorker; router: ms.Router }> {
    const worker = await this.pickWorker(avoid);
    const router = await worker.createRouter(roomId, mediaCodecs);
    return { worker, router };
  }

  /** Polls every live worker's resource usage once (also done on the polling interval). */
  async sampleResourceUsage(): Promise<void> {
    await Promise.all(this.workers().map((w) => w.sampleResourceUsage()));
  }

  /** Per-worker counters and CPU, as plain data. */
  metrics(): PoolMetrics {
    const workers = this.#slots.filter((w): w is MediaWorker => !!w).map((w) => w.metrics());
    return {
      workers,
      liveWorkers: workers.filter((w) => w.alive).length,
      replacements: this.#replacements,
    };
  }

  /** Closes every worker (idempotent); pending replacements are discarded. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pollTimer);
    for (const w of this.#slots) w?.close();
    this.#slots.fill(undefined);
    this.logger.info('close() | worker pool closed');
    this.removeAllListeners();
  }

  async #spawn(index: number): Promise<MediaWorker> {
    const { basePort } = this.#options;
    const listen: WebRtcServerListen = {
      listenIp: this.#options.listenIp,
      announcedAddress: this.#options.announcedAddress,
      port: basePort === undefined ? undefined : basePort + index,
    };
    const worker = await MediaWorker.create(index, this.#options, listen, this.logger);
    if (this.#closed) {
      worker.close();
      throw new MediaError('INVALID_STATE', 'worker pool closed while spawning');
    }
    this.#slots[index] = worker;
    worker.on('died', (error) => this.#onDied(worker, error));
    return worker;
  }

  #onDied(worker: MediaWorker, error: Error): void {
    if (this.#closed || this.#slots[worker.index] !== worker) return;
    const roomIds = worker.roomIds();
    this.#slots[worker.index] = undefined;
    this.safeEmit('workerdied', { index: worker.index, pid: worker.pid, error, roomIds });
    const replacement = this.#replace(worker, roomIds);
    this.#pending.set(worker.index, replacement);
    void replacement.finally(() => this.#pending.delete(worker.index));
  }

  async #replace(dead: MediaWorker, roomIds: string[]): Promise<MediaWorker | undefined> {
    // Retry until it works or the pool closes: a pool that silently shrinks loses capacity forever.
    while (!this.#closed) {
      try {
        const worker = await this.#spawn(dead.index);
        this.#replacements++;
        this.logger.warn('replace() | worker replaced', {
          index: dead.index,
          oldPid: dead.pid,
          newPid: worker.pid,
          rooms: roomIds.length,
        });
        this.safeEmit('workerreplaced', {
          index: dead.index,
          oldPid: dead.pid,
          newPid: worker.pid,
          roomIds,
        });
        return worker;
      } catch (err) {
        if (this.#closed) break;
        const error = err instanceof Error ? err : new Error(String(err));
        this.logger.error('replace() | spawning replacement failed', {
          index: dead.index,
          error: error.message,
        });
        this.safeEmit('workerreplacefailed', { index: dead.index, error });
        await new Promise((r) => setTimeout(r, this.#options.replaceRetryDelayMs).unref());
      }
    }
    return undefined;
  }
}
