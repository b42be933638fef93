import { Histogram, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A service's Prometheus registry with default process metrics and the HTTP/NATS histograms every
 * service exposes on `/metrics`. Each service owns one registry (no global state), so several
 * services can run in one test process.
 */
export class Metrics {
  readonly registry = new Registry();
  /** HTTP server request durations. */
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** NATS request/serve durations by subject, role and outcome. */
  readonly natsDuration: Histogram<'subject' | 'role' | 'outcome'>;
  /** NATS messages rejected by schema validation. */
  readonly natsInvalid: Counter<'subject' | 'role'>;
  /** 1 when the service is ready, 0 otherwise. */
  readonly ready: Gauge;

  constructor(service: string, nodeId: string) {
    this.registry.setDefaultLabels({ service, node_id: nodeId });
    collectDefaultMetrics({ register: this.registry });
    const buckets = [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ];
    this.httpDuration = new Histogram({
      name: 'parley_http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route', 'status'],
      buckets,
      registers: [this.registry],
    });
    this.natsDuration = new Histogram({
      name: 'parley_nats_request_duration_seconds',
      help: 'NATS request duration, as caller (client) or handler (server)',
      labelNames: ['subject', 'role', 'outcome'],
      buckets,
      registers: [this.registry],
    });
    this.natsInvalid = new Counter({
      name: 'parley_nats_invalid_messages_total',
      help: 'NATS messages that failed schema validation',
      labelNames: ['subject', 'role'],
      registers: [this.registry],
    });
    this.ready = new Gauge({
      name: 'parley_ready',
      help: '1 when ready',
      registers: [this.registry],
    });
  }

  /** Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
