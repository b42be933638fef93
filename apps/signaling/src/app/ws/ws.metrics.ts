import { Inject, Injectable } from '@nestjs/common';
import type { Metrics } from '@parley/observability';
import { METRICS } from '@parley/runtime';
import { Counter, Histogram } from 'prom-client';

/** Prometheus metrics of the WebSocket protocol. */
@Injectable()
export class WsMetrics {
  /** Request durations by method and outcome (`ok` or the error code). */
  readonly requests: Histogram<'method' | 'outcome'>;
  /** Frames answered with an error before reaching a handler, by reason. */
  readonly badFrames: Counter<'reason'>;
  /** Notifications dropped because the client did not read fast enough. */
  readonly dropped: Counter;
  /** Connections refused or closed at the handshake, by reason. */
  readonly refused: Counter<'reason'>;

  constructor(@Inject(METRICS) metrics: Metrics) {
    const registers = [metrics.registry];
    this.requests = new Histogram({
      name: 'parley_signaling_ws_request_duration_seconds',
      help: 'WebSocket request duration by method and outcome',
      labelNames: ['method', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.badFrames = new Counter({
      name: 'parley_signaling_ws_bad_frames_total',
      help: 'WebSocket frames rejected before dispatch',
      labelNames: ['reason'],
      registers,
    });
    this.dropped = new Counter({
      name: 'parley_signaling_ws_notifications_dropped_total',
      help: 'Notifications dropped for slow clients',
      registers,
    });
    this.refused = new Counter({
      name: 'parley_signaling_ws_refused_total',
      help: 'WebSocket connections refused at the handshake',
      labelNames: ['reason'],
      registers,
    });
  }
}
