/** Typed NATS request/publish/subscribe and JetStream work queues. */
export * from './lib/errors';
export * from './lib/codec';
export * from './lib/NatsMessaging';
export * from './lib/WorkQueue';
export * from './lib/nest/NatsContractTransport';
