/** The SFU model on mediasoup: worker pool, rooms, peers. Free of NATS and Nest. */
export { MediaError, MEDIA_ERROR_CODES, toMediaError, type MediaErrorCode } from './lib/MediaError';
export { silentLogger, type MediaLogger } from './lib/MediaLogger';
export { TypedEmitter, type EventMap } from './lib/TypedEmitter';
export * from './lib/MediaTypes';
export { DEFAULT_MEDIA_CODECS } from './lib/MediaCodecs';
export {
  chooseRouterForPeer,
  cpuPercent,
  pickLeastLoaded,
  workerLoadScore,
  type RouterChoice,
  type WorkerLoad,
} from './lib/Placement';
export {
  MediaWorker,
  type MediaWorkerEvents,
  type MediaWorkerSettings,
  type WebRtcServerListen,
  type WorkerMetrics,
  useWorkerBinary,
} from './lib/MediaWorker';
export {
  WorkerPool,
  type PoolMetrics,
  type WorkerDiedEvent,
  type WorkerPoolEvents,
  type WorkerPoolOptions,
  type WorkerReplacedEvent,
} from './lib/WorkerPool';
export {
  Peer,
  type ConsumeOptions,
  type ProduceOptions,
  type WebRtcTransportSettings,
} from './lib/Peer';
export type { RoomRouter } from './lib/RoomRouter';
export { Room, type RoomEvents, type RoomOptions, type RoomVoiceSettings } from './lib/Room';
export {
  RoomManager,
  type MediaMetrics,
  type RoomManagerEvents,
  type RoomRecreatedEvent,
} from './lib/RoomManager';
export type { types as mediasoupTypes } from 'mediasoup';
export {
  AudioTap,
  type AudioTapEvents,
  type AudioTapOptions,
  type TapStreamInfo,
  type TapStreamStats,
} from './lib/AudioTap';
export {
  AgentPlayback,
  type AgentPlaybackEvents,
  type AgentPlaybackOptions,
  type PcmChunk,
  type PlaybackEndReason,
  type PlaybackRequest,
} from './lib/AgentPlayback';
