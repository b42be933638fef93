import { Inject, Injectable } from '@nestjs/common';
import type { Metrics } from '@parley/observability';
import { METRICS } from '@parley/runtime';
import { Counter, Gauge, Histogram } from 'prom-client';

/** Prometheus metrics of an STT worker, on the service's registry. */
@Injectable()
export class WorkerMetrics {
  /** Realtime-lane requests by kind (`partial`, `final`, `stream`) and outcome. */
  readonly realtime: Counter<'kind' | 'outcome'>;
  /** Receipt to reply of realtime requests. */
  readonly realtimeSeconds: Histogram<'kind'>;
  /** Batch windows processed (`done`, `skipped`). */
  readonly windows: Counter<'outcome'>;
  /** Batch jobs by outcome (`completed`, `cancelled`, `retry`, `failed`). */
  readonly jobs: Counter<'outcome'>;
  /** 1 while the model is loaded. */
  readonly modelLoaded: Gauge;

  constructor(@Inject(METRICS) metrics: Metrics) {
    const registers = [metrics.registry];
    this.realtime = new Counter({
      name: 'parley_stt_realtime_requests_total',
      help: 'Realtime-lane requests by kind and outcome',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.realtimeSeconds = new Histogram({
      name: 'parley_stt_realtime_seconds',
      help: 'Realtime-lane request time on the worker',
      labelNames: ['kind'],
      buckets: [0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1, 2, 5, 10],
      registers,
    });
    this.windows = new Counter({
      name: 'parley_stt_batch_windows_total',
      help: 'Batch windows processed',
      labelNames: ['outcome'],
      registers,
    });
    this.jobs = new Counter({
      name: 'parley_stt_batch_jobs_total',
      help: 'Batch job deliveries by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.modelLoaded = new Gauge({
      name: 'parley_stt_model_loaded',
      help: '1 while the whisper model is loaded',
      registers,
    });
  }
}
