/**
 * Real Node WebRTC participants (werift) of the WebSocket protocol, for end-to-end tests and
 * benchmarks. A separate entry point so that tests which need no WebRTC do not load werift.
 */
export * from './lib/voice-client';
