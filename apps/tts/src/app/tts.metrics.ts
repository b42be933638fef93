import { Inject, Injectable } from '@nestjs/common';
import type { Metrics } from '@parley/observability';
import { METRICS } from '@parley/runtime';
import { Counter, Gauge, Histogram } from 'prom-client';

/** Which API a request came through. */
export type TtsApi = 'speech' | 'piper' | 'nats';

/** Prometheus metrics of the TTS service, on the service's registry. */
@Injectable()
export class TtsMetrics {
  /** Requests by API and outcome (`ok`, `aborted`, or the error code). */
  readonly requests: Counter<'api' | 'outcome'>;
  /** Time from the request to its first audio byte. */
  readonly firstAudio: Histogram<'api' | 'cached'>;
  /** Time from the request to its last audio byte. */
  readonly duration: Histogram<'api' | 'cached'>;
  /** Cache lookups and stores by result. */
  readonly cache: Counter<'op' | 'result'>;
  /** onnxruntime runs started (one per sentence), per voice. */
  readonly modelRuns: Counter<'voice'>;
  /** Seconds of audio produced, per voice. */
  readonly audioSeconds: Counter<'voice'>;
  /** Syntheses in progress. */
  readonly active: Gauge;

  constructor(@Inject(METRICS) metrics: Metrics) {
    const registers = [metrics.registry];
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    this.requests = new Counter({
      name: 'parley_tts_requests_total',
      help: 'TTS requests by API and outcome',
      labelNames: ['api', 'outcome'],
      registers,
    });
    this.firstAudio = new Histogram({
      name: 'parley_tts_first_audio_seconds',
      help: 'Time to the first audio of a request',
      labelNames: ['api', 'cached'],
      buckets,
      registers,
    });
    this.duration = new Histogram({
      name: 'parley_tts_request_seconds',
      help: 'Time to the last audio of a request',
      labelNames: ['api', 'cached'],
      buckets,
      registers,
    });
    this.cache = new Counter({
      name: 'parley_tts_cache_operations_total',
      help: 'Audio cache lookups (hit/miss) and stores (stored/skipped)',
      labelNames: ['op', 'result'],
      registers,
    });
    this.modelRuns = new Counter({
      name: 'parley_tts_model_runs_total',
      help: 'onnxruntime runs started (one per sentence)',
      labelNames: ['voice'],
      registers,
    });
    this.audioSeconds = new Counter({
      name: 'parley_tts_audio_seconds_total',
      help: 'Seconds of audio synthesised or served from the cache',
      labelNames: ['voice'],
      registers,
    });
    this.active = new Gauge({
      name: 'parley_tts_active_requests',
      help: 'Syntheses in progress',
      registers,
    });
  }
}
