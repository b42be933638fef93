/**
 * Test support of `@parley/media` for other projects' spec files: real Node WebRTC clients of a
 * `Peer` (a libwebrtc sender of a tone or of given PCM, a werift RTP receiver, a libwebrtc decoding
 * receiver), the IPC client of a wrtc child process and the worker-binary check. Never imported by production code.
 */
export * from './test-support/clients';
export { ChildRpc } from './test-support/child-rpc';
export { assertWorkerBinary } from './test-support/worker-binary';
