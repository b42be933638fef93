/**
 * Typed client of Parley (browser first; Node with a WebSocket constructor and a mediasoup-client
 * handler factory): {@link SignalingClient} speaks the WebSocket protocol, {@link RoomClient} adds
 * mediasoup-client media (microphone, consumers), transcripts, speech and latencies on top.
 * Depends on `@parley/contracts` only.
 */
export * from './lib/emitter';
export * from './lib/signaling-client';
export * from './lib/room-client';
export * from './lib/speech-meter';
export * from './lib/speech-end-matcher';
