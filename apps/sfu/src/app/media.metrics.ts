import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { SfuConfig } from '@parley/config';
import type { RoomStats } from '@parley/media';
import type { Logger, Metrics } from '@parley/observability';
import { CONFIG, LOGGER, METRICS } from '@parley/runtime';
import { Counter, Gauge } from 'prom-client';
import { MediaService } from './media.service';

/** Stream totals of one stats collection. */
export interface StreamTotals {
  /** bits per second received from producers / sent to consumers */
  inBitrate: number;
  outBitrate: number;
  /** Packets lost over the lifetime of the live producers / consumers. */
  inPacketsLost: number;
  outPacketsLost: number;
  /** Mean loss fraction (0..1) of the last RTCP interval over live producers / consumers. */
  inFractionLost: number;
  outFractionLost: number;
}

/** Sums the stats of every room into node totals. */
export function streamTotals(rooms: RoomStats[]): StreamTotals {
  const producers = rooms.flatMap((r) => r.producers);
  const consumers = rooms.flatMap((r) => r.consumers);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : 0);
  const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
  return {
    inBitrate: sum(producers.map((p) => p.bitrate)),
    outBitrate: sum(consumers.map((c) => c.bitrate)),
    inPacketsLost: sum(producers.map((p) => Math.max(0, p.packetsLost))),
    outPacketsLost: sum(consumers.map((c) => Math.max(0, c.packetsLost))),
    inFractionLost: mean(producers.map((p) => p.fractionLost)),
    outFractionLost: mean(consumers.map((c) => c.fractionLost)),
  };
}

/**
 * Prometheus metrics of the media model on the service's registry. Counts and worker CPU are read
 * at scrape time from the pool (CPU itself is polled by the pool every SFU_WORKER_POLL_MS);
 * bitrate and loss need a stats request per stream, so they are collected every
 * SFU_STATS_INTERVAL_MS instead of per scrape.
 */
@Injectable()
export class MediaMetrics implements OnModuleInit, OnApplicationShutdown {
  private readonly replacements: Counter;
  private readonly streams: { bitrate: Gauge; lost: Gauge; fraction: Gauge };
  private timer?: NodeJS.Timeout;
  private collecting = false;

  constructor(
    @Inject(METRICS) metrics: Metrics,
    @Inject(CONFIG) private readonly config: SfuConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(MediaService) private readonly media: MediaService,
  ) {
    const registers = [metrics.registry];
    const pool = () => this.media.pool?.metrics();
    const rooms = () => (this.media.pool ? this.media.manager.metrics() : undefined);
    const workers = new Gauge({
      name: 'parley_sfu_workers',
      help: 'mediasoup workers by state (configured, live)',
      labelNames: ['state'],
      registers,
      collect: () => {
        const m = pool();
        workers.set({ state: 'configured' }, this.media.pool?.size ?? 0);
        workers.set({ state: 'live' }, m?.liveWorkers ?? 0);
      },
    });
    this.replacements = new Counter({
      name: 'parley_sfu_worker_replacements_total',
      help: 'mediasoup workers that died and were replaced',
      registers,
    });
    new Gauge({
      name: 'parley_sfu_rooms',
      help: 'Open rooms',
      registers,
      collect() {
        this.set(rooms()?.rooms ?? 0);
      },
    });
    new Gauge({
      name: 'parley_sfu_peers',
      help: 'Peers in open rooms',
      registers,
      collect() {
        this.set(rooms()?.peers ?? 0);
      },
    });
    const perWorker = (
      name: string,
      help: string,
      read: (w: NonNullable<ReturnType<typeof pool>>['workers'][number]) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker'],
        registers,
        collect() {
          // Reset first: a replaced worker keeps its slot label, a closed pool drops them all.
          this.reset();
          for (const w of pool()?.workers ?? []) {
            if (w.alive) this.set({ worker: String(w.index) }, read(w));
          }
        },
      });
    perWorker('parley_sfu_routers', 'Routers per worker', (w) => w.routers);
    perWorker(
      'parley_sfu_transports',
      'Transports per worker (WebRTC, pipe, plain)',
      (w) => w.transports,
    );
    perWorker('parley_sfu_producers', 'Producers per worker', (w) => w.producers);
    perWorker('parley_sfu_consumers', 'Consumers per worker', (w) => w.consumers);
    perWorker(
      'parley_sfu_worker_cpu_percent',
      'CPU of each worker process over the last poll, percent of one core',
      (w) => w.cpuPct,
    );
    perWorker(
      'parley_sfu_worker_max_rss_bytes',
      'Peak resident memory of each worker process',
      (w) => w.maxRssKb * 1024,
    );
    this.streams = {
      bitrate: new Gauge({
        name: 'parley_sfu_bitrate_bits_per_second',
        help: 'Media bitrate received from producers (in) and sent to consumers (out)',
        labelNames: ['direction'],
        registers,
      }),
      lost: new Gauge({
        name: 'parley_sfu_packets_lost',
        help: 'Packets lost over the lifetime of the live producers (in) and consumers (out)',
        labelNames: ['direction'],
        registers,
      }),
      fraction: new Gauge({
        name: 'parley_sfu_fraction_lost',
        help: 'Mean loss fraction (0..1) of the last RTCP interval of live producers (in) and consumers (out)',
        labelNames: ['direction'],
        registers,
      }),
    };
    // Present (as zero) before the first collection, so dashboards and alerts see the series.
    for (const gauge of Object.values(this.streams)) {
      for (const direction of ['in', 'out']) gauge.set({ direction }, 0);
    }
  }

  onModuleInit(): void {
    this.media.onStarted((_manager, pool) => {
      pool.on('workerreplaced', () => this.replacements.inc());
    });
    const interval = this.config.SFU_STATS_INTERVAL_MS;
    if (interval > 0) {
      this.timer = setInterval(() => void this.collectStreams(), interval);
      this.timer.unref();
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Collects bitrate and loss of every stream once (also run on the interval). */
  async collectStreams(): Promise<StreamTotals | undefined> {
    if (this.collecting || !this.media.pool) return undefined;
    this.collecting = true;
    try {
      const t = streamTotals(await this.media.manager.collectRoomStats());
      const { bitrate, lost, fraction } = this.streams;
      bitrate.set({ direction: 'in' }, t.inBitrate);
      bitrate.set({ direction: 'out' }, t.outBitrate);
      lost.set({ direction: 'in' }, t.inPacketsLost);
      lost.set({ direction: 'out' }, t.outPacketsLost);
      fraction.set({ direction: 'in' }, t.inFractionLost);
      fraction.set({ direction: 'out' }, t.outFractionLost);
      return t;
    } catch (err) {
      this.logger.warn('collectStreams() | cannot collect stream stats', {
        err: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    } finally {
      this.collecting = false;
    }
  }
}
