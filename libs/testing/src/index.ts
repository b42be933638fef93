/** Test helpers: private nats-server/redis-server, OTLP receiver, service processes, polling. */
export * from './lib/ports';
export * from './lib/servers';
export * from './lib/otlp-receiver';
export * from './lib/service-process';
