/**
 * Typed client of Parley's WebSocket signaling protocol (browser + Node). Imports only
 * `@parley/contracts`; mediasoup-client integration comes with the browser client issue.
 */
export * from './lib/emitter';
export * from './lib/signaling-client';
