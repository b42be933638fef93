import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { type SttWorkerHeartbeat, sttEvents } from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import type { HealthRegistry, Logger } from '@parley/observability';
import { HEALTH, LOGGER, MESSAGING, SERVICE_INFO, type ServiceInfo } from '@parley/runtime';

/** A worker as last heard of. */
export interface KnownWorker {
  info: SttWorkerHeartbeat;
  /** Local receipt time, ms since the epoch. */
  seenAt: number;
}

/** How many heartbeat intervals of silence make a worker gone. */
const MISSED_BEATS = 3;

/**
 * Pure bookkeeping of worker heartbeats (no I/O): who is there, who is ready, who went silent.
 */
export class WorkerTable {
  readonly #workers = new Map<string, KnownWorker>();

  /** Records a heartbeat; returns whether the worker's state changed (or it is new). */
  update(info: SttWorkerHeartbeat, now = Date.now()): boolean {
    const before = this.#workers.get(info.workerId);
    this.#workers.set(info.workerId, { info, seenAt: now });
    return before?.info.state !== info.state;
  }

  /** Workers heard from within their last MISSED_BEATS intervals. */
  live(now = Date.now()): KnownWorker[] {
    const out: KnownWorker[] = [];
    for (const [id, w] of this.#workers) {
      if (now - w.seenAt > w.info.heartbeatMs * MISSED_BEATS) {
        this.#workers.delete(id);
        continue;
      }
      if (w.info.state === 'stopping') continue;
      out.push(w);
    }
    return out;
  }

  /** Live workers with their model loaded. */
  ready(now = Date.now()): KnownWorker[] {
    return this.live(now).filter((w) => w.info.state === 'ready');
  }

  /**
   * whisper.cpp server's `/health` semantics over the fleet: `ok` when at least one worker has its
   * model loaded; `loading model` while some are loading; otherwise why not.
   */
  health(now = Date.now()): { ok: boolean; status: string; workers: number; ready: number } {
    const live = this.live(now);
    const ready = live.filter((w) => w.info.state === 'ready').length;
    if (ready > 0) return { ok: true, status: 'ok', workers: live.length, ready };
    if (live.some((w) => w.info.state === 'loading')) {
      return { ok: false, status: 'loading model', workers: live.length, ready };
    }
    if (live.length > 0) {
      return { ok: false, status: 'model load failed', workers: live.length, ready };
    }
    return { ok: false, status: 'no workers', workers: 0, ready };
  }
}

/**
 * The orchestrator's view of the workers, from `stt.worker.heartbeat` (and `stt.worker.discover`
 * at start, so it does not wait a heartbeat interval to know them).
 */
@Injectable()
export class WorkerRegistry implements OnModuleInit, OnApplicationShutdown {
  readonly table = new WorkerTable();
  #timer?: NodeJS.Timeout;

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(HEALTH) private readonly health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
  ) {}

  onModuleInit(): void {
    this.messaging.subscribe(sttEvents.workerHeartbeat, (hb) => {
      if (this.table.update(hb)) {
        this.logger.info('heartbeat() | worker state', {
          workerId: hb.workerId,
          state: hb.state,
          reason: hb.reason,
          model: hb.model?.name,
          synthetic: hb.model?.synthetic,
        });
      }
    });
    // Informational: the orchestrator accepts jobs without workers (they wait in the queue).
    this.health.register('workers', () => {
      const ready = this.table.ready();
      const synthetic = ready.filter((w) => w.info.model?.synthetic).length;
      return {
        ok: true,
        reason:
          `${ready.length} worker(s) ready` +
          (synthetic ? `; ${synthetic} on the SYNTHETIC model (meaningless text)` : ''),
      };
    });
    const discover = () => {
      try {
        if (this.messaging.connected) {
          this.messaging.publish(sttEvents.workerDiscover, { requestedBy: this.info.nodeId });
        }
      } catch {
        // next round
      }
    };
    void this.messaging.waitUntilConnected().then(discover);
    // Re-ask now and then: after a NATS outage heartbeats resume anyway, this only speeds it up.
    this.#timer = setInterval(discover, 30_000);
    this.#timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.#timer);
  }
}
