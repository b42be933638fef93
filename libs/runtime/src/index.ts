/** Boots a Parley service: config, logs, tracing, health, metrics, NATS, Redis. */
export * from './lib/tokens';
export * from './lib/errors';
export * from './lib/service-info';
export * from './lib/run-service';
export * from './lib/exception.filter';
export * from './lib/zod.pipe';
