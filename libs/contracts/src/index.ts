/**
 * The only thing Parley services know about each other: NATS subjects with zod schemas and
 * inferred types, the WebSocket protocol, HTTP DTOs and the error shape. No Nest imports: the
 * browser client imports this library too.
 */
export * from './lib/errors';
export * from './lib/contract';
export * from './lib/binary-frame';
export * from './lib/services';
export * from './lib/registry';
export * from './lib/sfu';
export * from './lib/signaling';
export * from './lib/ws-protocol';
export * from './lib/tts';
export * from './lib/stt';
export * from './lib/voice';
