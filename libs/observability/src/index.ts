/** OTel tracing, winston JSON logs, trace/correlation propagation, Prometheus metrics, health. */
export * from './lib/correlation';
export * from './lib/tracing';
export * from './lib/logger';
export * from './lib/metrics';
export * from './lib/health';
export * from './lib/typed-emitter';
