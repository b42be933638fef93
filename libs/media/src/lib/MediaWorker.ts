import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';

import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';

import { MediaError } from './MediaError';
import type { MediaLogger } from './MediaLogger';
import { cpuPercent, type WorkerLoad } from './Placement';
import { TypedEmitter } from './TypedEmitter';

/** How a worker's WebRtcServer listens: one UDP and one TCP socket on the same port. */
export interface WebRtcServerListen {
  /** Local IP to bind, e.g. `0.0.0.0` or `127.0.0.1`. */
  listenIp: string;
  /** Address announced in ICE candidates (public IP or hostname behind NAT / in the cloud). */
  announcedAddress?: string;
  /** Port for both UDP and TCP; undefined lets the OS choose (two different ports). */
  port?: number;
}

/**
 * Makes mediasoup spawn `bin` (or, when undefined, the binary it would pick itself: the
 * `MEDIASOUP_WORKER_BIN` of its environment or its default build path) and checks that the binary
 * is executable. Returns the path in use; throws `NO_WORKER` naming the fix when it is missing.
 */
export function useWorkerBinary(bin?: string): string {
  if (bin && bin !== currentWorkerBin()) {
    // mediasoup reads MEDIASOUP_WORKER_BIN once, when it is first imported, and keeps the path in a
    // mutable CommonJS export of its Worker module that is read at every spawn. A path from our own
    // config (which may differ from the process environment, e.g. in tests) is set there. The
    // module is reached by absolute path because the package's `exports` map hides it.
    workerModule().workerBin = bin;
  }
  const path = currentWorkerBin();
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new MediaError(
      'NO_WORKER',
      `mediasoup worker binary not found or not executable at ${path}; build it with ` +
        '`node scripts/setup/mediasoup-worker.mjs` and set MEDIASOUP_WORKER_BIN',
    );
  }
  return path;
}

function workerModule(): { workerBin: string } {
  return require(join(dirname(require.resolve('mediasoup')), 'Worker.js')) as { workerBin: string };
}

function currentWorkerBin(): string {
  return workerModule().workerBin;
}

/** Settings for one mediasoup worker process. */
export interface MediaWorkerSettings {
  logLevel?: ms.WorkerLogLevel;
  logTags?: ms.WorkerLogTag[];
  dtlsCertificateFile?: string;
  dtlsPrivateKeyFile?: string;
}

/** A worker's counters and last resource sample, as plain data. */
export interface WorkerMetrics extends WorkerLoad {
  readonly pid: number;
  /** Maximum resident set size in KiB (from getrusage). */
  readonly maxRssKb: number;
  /** Ports the WebRtcServer listens on. */
  readonly udpPort?: number;
  readonly tcpPort?: number;
  /** Rooms with a router on this worker. */
  readonly rooms: number;
}

/** Events of a `MediaWorker`. */
export type MediaWorkerEvents = {
  /** The worker process died unexpectedly; its routers are already closed. */
  died: [error: Error];
};

/**
 * One mediasoup worker process with its WebRtcServer, plus the bookkeeping the pool needs: which
 * room each router belongs to, how many transports/producers/consumers it carries (counted through
 * mediasoup's `observer` events, so pipe transports count too) and its CPU use.
 */
export class MediaWorker extends TypedEmitter<MediaWorkerEvents> {
  /** The mediasoup worker. */
  readonly worker: ms.Worker;
  /** The worker's WebRtcServer; every WebRTC transport of this worker goes through it. */
  readonly webRtcServer: ms.WebRtcServer;
  /** Slot index in the pool; a replacement inherits it (and its port). */
  readonly index: number;

  // routerId -> roomId. Kept when the worker dies (mediasoup closes the routers before it emits
  // `died`), so the pool can report which rooms were affected.
  readonly #routerRooms = new Map<string, string>();
  #transports = 0;
  #producers = 0;
  #consumers = 0;
  #cpuPct = 0;
  #maxRssKb = 0;
  #lastUsage?: { utimeMs: number; stimeMs: number; at: number };
  readonly #udpPort?: number;
  readonly #tcpPort?: number;

  private constructor(
    index: number,
    worker: ms.Worker,
    webRtcServer: ms.WebRtcServer,
    logger: MediaLogger,
    ports: { udp?: number; tcp?: number },
  ) {
    super(logger);
    this.index = index;
    this.worker = worker;
    this.webRtcServer = webRtcServer;
    this.#udpPort = ports.udp;
    this.#tcpPort = ports.tcp;
    this.#observe();
    worker.on('died', (error) => {
      this.logger.error('worker died | mediasoup worker process exited', {
        index,
        pid: worker.pid,
        error: error.message,
      });
      this.safeEmit('died', error);
    });
  }

  /** Spawns a worker and its WebRtcServer. Closes the worker again if the server cannot listen. */
  static async create(
    index: number,
    settings: MediaWorkerSettings,
    listen: WebRtcServerListen,
    logger: MediaLogger,
  ): Promise<MediaWorker> {
    const worker = await mediasoup.createWorker({
      logLevel: settings.logLevel ?? 'warn',
      logTags: settings.logTags,
      dtlsCertificateFile: settings.dtlsCertificateFile,
      dtlsPrivateKeyFile: settings.dtlsPrivateKeyFile,
      // Debian's kernel may offer io_uring, but the worker is built without liburing.
      disableLiburing: true,
      appData: { index },
    });
    try {
      const base = { ip: listen.listenIp, announcedAddress: listen.announcedAddress };
      const webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { ...base, protocol: 'udp', port: listen.port },
          { ...base, protocol: 'tcp', port: listen.port },
        ],
      });
      const dump = await webRtcServer.dump();
      const mw = new MediaWorker(index, worker, webRtcServer, logger, {
        udp: dump.udpSockets[0]?.port,
        tcp: dump.tcpServers[0]?.port,
      });
      logger.info('MediaWorker.create() | worker ready', {
        index,
        pid: worker.pid,
        udpPort: dump.udpSockets[0]?.port,
        tcpPort: dump.tcpServers[0]?.port,
      });
      return mw;
    } catch (err) {
      worker.close();
      throw err;
    }
  }

  /** The worker's process id. */
  get pid(): number {
    return this.worker.pid;
  }

  /** False once the worker died or was closed (mediasoup marks it closed before routers close). */
  get alive(): boolean {
    return !this.worker.closed;
  }

  /** Whether the worker process died (as opposed to being closed by us). */
  get died(): boolean {
    return this.worker.died;
  }

  /** Ids of rooms with a router on this worker (including, after death, the routers it lost). */
  roomIds(): string[] {
    return [...new Set(this.#routerRooms.values())];
  }

  /** Creates a router for `roomId` on this worker. */
  async createRouter(roomId: string, mediaCodecs: ms.RtpCodecCapability[]): Promise<ms.Router> {
    if (!this.alive) {
      throw new MediaError('WORKER_DIED', `worker ${this.index} (pid ${this.pid}) is not alive`);
    }
    const router = await this.worker.createRouter({ mediaCodecs, appData: { roomId } });
    this.#routerRooms.set(router.id, roomId);
    return router;
  }

  /** Current counters and last CPU sample. */
  metrics(): WorkerMetrics {
    return {
      index: this.index,
      pid: this.pid,
      alive: this.alive,
      routers: this.alive ? this.#routerRooms.size : 0,
      rooms: this.alive ? this.roomIds().length : 0,
      transports: this.#transports,
      producers: this.#producers,
      consumers: this.#consumers,
      cpuPct: this.#cpuPct,
      maxRssKb: this.#maxRssKb,
      udpPort: this.#udpPort,
      tcpPort: this.#tcpPort,
    };
  }

  /** Polls `getResourceUsage()` and updates the CPU percentage since the previous poll. */
  async sampleResourceUsage(now: number = Date.now()): Promise<void> {
    if (!this.alive) return;
    try {
      const ru = await this.worker.getResourceUsage();
      const sample = { utimeMs: ru.ru_utime, stimeMs: ru.ru_stime, at: now };
      if (this.#lastUsage) {
        this.#cpuPct = cpuPercent(this.#lastUsage, sample, now - this.#lastUsage.at);
      }
      this.#lastUsage = sample;
      this.#maxRssKb = ru.ru_maxrss;
    } catch (err) {
      // A worker dying between the alive check and the reply is handled by the `died` path.
      this.logger.debug('sampleResourceUsage() | failed', {
        index: this.index,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** Closes the worker process (idempotent). Does not emit `died`. */
  close(): void {
    this.worker.close();
  }

  #observe(): void {
    this.worker.observer.on('newrouter', (router) => {
      router.observer.on('close', () => {
        if (this.alive) this.#routerRooms.delete(router.id);
      });
      router.observer.on('newtransport', (transport) => {
        this.#transports++;
        transport.observer.on('close', () => this.#transports--);
        transport.observer.on('newproducer', (producer) => {
          this.#producers++;
          producer.observer.on('close', () => this.#producers--);
        });
        transport.observer.on('newconsumer', (consumer) => {
          this.#consumers++;
          consumer.observer.on('close', () => this.#consumers--);
        });
      });
    });
  }
}
