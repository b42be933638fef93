import { z } from 'zod';
import { defineEvent, defineRequest } from './contract';
import { registerContracts } from './registry';

/**
 * The SFU's media API over NATS. Signaling is the caller. `sfu.room.open` is served by any SFU node
 * (queue group, least-loaded wins); every later request about that room is directed at the node
 * that hosts it by a trailing token: `sfu.transport.create.<nodeId>`. Room events fan out by a
 * trailing room id: `sfu.producer.opened.<roomId>`.
 */

/**
 * Error codes of SFU replies (`{ code, message, retryable }`), besides the messaging layer's own
 * (`BAD_REQUEST` for a payload failing its schema, `TIMEOUT`, `NO_RESPONDERS`):
 *
 * - `NOT_FOUND`: unknown room, peer, transport, producer or consumer id.
 * - `ALREADY_EXISTS`: a peer with that id is already in the room.
 * - `INVALID_STATE`: the entity is closed or not in a state that allows the call.
 * - `ROOM_CLOSED`: the room was closed (explicitly, idle, or because its worker died).
 * - `ALREADY_CONNECTED`: `sfu.transport.connect` was already called on that transport.
 * - `BAD_REQUEST`: malformed arguments the schema cannot catch (e.g. bad DTLS parameters).
 * - `BAD_RTP_PARAMETERS`: invalid or unsupported RTP parameters in `sfu.producer.create`.
 * - `CANNOT_CONSUME`: the consumer's RTP capabilities cannot receive that producer.
 * - `NO_WORKER`: no live mediasoup worker (starting, or all being replaced); retryable.
 * - `WORKER_DIED`: the worker serving the call died while it was in flight; retryable.
 * - `INTERNAL`: anything else.
 */
export const SFU_ERROR_CODES = [
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'INVALID_STATE',
  'ROOM_CLOSED',
  'ALREADY_CONNECTED',
  'BAD_REQUEST',
  'BAD_RTP_PARAMETERS',
  'CANNOT_CONSUME',
  'NO_WORKER',
  'WORKER_DIED',
  'INTERNAL',
] as const;
/** Error code of an SFU reply. */
export type SfuErrorCode = (typeof SFU_ERROR_CODES)[number];

/** Room ids: tenant-scoped by the caller (`<tenant>--<room>`), subject-token safe. */
export const RoomId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'room ids are 1-128 of [A-Za-z0-9_-]');
/** Peer ids, subject-token safe. */
export const PeerId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'peer ids are 1-128 of [A-Za-z0-9_-]');
/** mediasoup entity ids (UUIDs). */
export const EntityId = z.string().min(1).max(64);
/** Media kind. */
export const MediaKind = z.enum(['audio', 'video']);

// mediasoup validates the inner structure of RTP objects itself; here they are bounded, loose
// objects so a malformed one is refused early but the SFU stays the authority on their contents.
/** mediasoup RtpCapabilities (opaque here, validated by mediasoup). */
export const RtpCapabilities = z.looseObject({
  codecs: z.array(z.looseObject({})).max(64).optional(),
  headerExtensions: z.array(z.looseObject({})).max(64).optional(),
});
/** mediasoup RtpParameters. */
export const RtpParameters = z.looseObject({
  codecs: z.array(z.looseObject({})).min(1).max(16),
  encodings: z.array(z.looseObject({})).max(16).optional(),
  mid: z.string().max(32).optional(),
});
/** DTLS parameters sent by a client to connect a transport. */
export const DtlsParameters = z.object({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z
    .array(z.object({ algorithm: z.string().max(32), value: z.string().max(256) }))
    .min(1)
    .max(8),
});

/** Room options the SFU cares about. */
export const SfuRoomOptions = z.object({
  /** Seconds an empty room stays open. */
  emptyTimeoutS: z.number().int().min(0).max(86_400).optional(),
  /** Consume every audio producer server-side for live transcription. */
  transcription: z.boolean().optional(),
  /** Transcription language code (`auto` detects; default `en`). */
  language: z.string().min(2).max(8).optional(),
  /** Stop speech into the room when a participant starts speaking (default true). */
  bargeIn: z.boolean().optional(),
  /** Default voice of speech into the room. */
  ttsVoice: z.string().min(1).max(128).optional(),
});

const RoomRef = { roomId: RoomId };
const PeerRef = { roomId: RoomId, peerId: PeerId };

export const SfuRoomOpenRequest = z
  .object({
    ...RoomRef,
    options: SfuRoomOptions.optional(),
    /**
     * A joining peer to add in the same call, with the transports it will ask for: one request
     * instead of three on the join path. Only sent to the node already hosting the room.
     */
    peer: z
      .object({
        peerId: PeerId,
        transports: z.array(z.enum(['send', 'recv'])).max(2),
      })
      .strict()
      .optional(),
  })
  .strict();
export const SfuTransportInfo = z.object({
  transportId: EntityId,
  iceParameters: z.looseObject({}),
  iceCandidates: z.array(z.looseObject({})),
  dtlsParameters: z.looseObject({}),
});
export const SfuRoomOpenResponse = z.object({
  roomId: RoomId,
  nodeId: z.string(),
  rtpCapabilities: RtpCapabilities,
  created: z.boolean(),
  /** With `peer`: its transports, in the order asked (absent when the node ignores `peer`). */
  transports: z.array(SfuTransportInfo.extend({ direction: z.enum(['send', 'recv']) })).optional(),
});
export const SfuRoomCloseRequest = z.object(RoomRef).strict();
export const SfuRoomCloseResponse = z.object({ closed: z.boolean() });
export const SfuRoomStatsRequest = z.object(RoomRef).strict();
export const SfuRoomStatsResponse = z.object({
  roomId: RoomId,
  workerPid: z.number().int(),
  routers: z.number().int(),
  peers: z.number().int(),
  transports: z.number().int(),
  producers: z.number().int(),
  consumers: z.number().int(),
  /** Free-form per-entity stats (bitrate, packet loss). */
  details: z.record(z.string(), z.unknown()).optional(),
});
export const SfuTransportCreateRequest = z
  .object({ ...PeerRef, direction: z.enum(['send', 'recv']) })
  .strict();
export const SfuTransportCreateResponse = SfuTransportInfo;
export const SfuTransportConnectRequest = z
  .object({ ...PeerRef, transportId: EntityId, dtlsParameters: DtlsParameters })
  .strict();
export const SfuTransportRestartIceRequest = z
  .object({ ...PeerRef, transportId: EntityId })
  .strict();
export const SfuTransportRestartIceResponse = z.object({ iceParameters: z.looseObject({}) });
export const SfuTransportCloseRequest = z.object({ ...PeerRef, transportId: EntityId }).strict();
export const SfuProducerCreateRequest = z
  .object({
    ...PeerRef,
    transportId: EntityId,
    kind: MediaKind,
    rtpParameters: RtpParameters,
    paused: z.boolean().optional(),
  })
  .strict();
export const SfuProducerCreateResponse = z.object({ producerId: EntityId });
export const SfuProducerRefRequest = z.object({ ...PeerRef, producerId: EntityId }).strict();
export const SfuConsumerCreateRequest = z
  .object({
    ...PeerRef,
    transportId: EntityId,
    producerId: EntityId,
    rtpCapabilities: RtpCapabilities,
  })
  .strict();
export const SfuConsumerCreateResponse = z.object({
  consumerId: EntityId,
  producerId: EntityId,
  /** Peer that owns the producer (`agent` for server-side playback). */
  producerPeerId: z.string(),
  kind: MediaKind,
  rtpParameters: z.looseObject({}),
  type: z.string(),
  producerPaused: z.boolean(),
});
export const SfuConsumerRefRequest = z.object({ ...PeerRef, consumerId: EntityId }).strict();
export const SfuPeerCloseRequest = z.object(PeerRef).strict();
export const Ack = z.object({ ok: z.literal(true) });

/** Contracts of the SFU media API. */
export const sfuContracts = {
  roomOpen: defineRequest({
    subject: 'sfu.room.open',
    request: SfuRoomOpenRequest,
    response: SfuRoomOpenResponse,
    timeoutMs: 5000,
    description:
      'Open (or find) a room: router on the least-loaded worker; returns its RTP capabilities and hosting node. With `peer`, also joins that peer and creates its transports (the join path in one request).',
  }),
  roomClose: defineRequest({
    subject: 'sfu.room.close',
    request: SfuRoomCloseRequest,
    response: SfuRoomCloseResponse,
    timeoutMs: 5000,
    description: 'Close a room and free everything in it.',
  }),
  roomStats: defineRequest({
    subject: 'sfu.room.stats',
    request: SfuRoomStatsRequest,
    response: SfuRoomStatsResponse,
    timeoutMs: 5000,
    description: 'Per-room counts and stats.',
  }),
  transportCreate: defineRequest({
    subject: 'sfu.transport.create',
    request: SfuTransportCreateRequest,
    response: SfuTransportCreateResponse,
    timeoutMs: 5000,
    description: 'Create a WebRTC transport for a peer.',
  }),
  transportConnect: defineRequest({
    subject: 'sfu.transport.connect',
    request: SfuTransportConnectRequest,
    response: Ack,
    timeoutMs: 5000,
    description: 'Connect a transport with the client DTLS parameters (once).',
  }),
  transportRestartIce: defineRequest({
    subject: 'sfu.transport.restartice',
    request: SfuTransportRestartIceRequest,
    response: SfuTransportRestartIceResponse,
    timeoutMs: 5000,
    description: 'Restart ICE on a transport (reconnect).',
  }),
  transportClose: defineRequest({
    subject: 'sfu.transport.close',
    request: SfuTransportCloseRequest,
    response: Ack,
    timeoutMs: 5000,
    description: 'Close a transport and everything on it.',
  }),
  producerCreate: defineRequest({
    subject: 'sfu.producer.create',
    request: SfuProducerCreateRequest,
    response: SfuProducerCreateResponse,
    timeoutMs: 5000,
    description: 'Produce media on a send transport.',
  }),
  producerClose: defineRequest({
    subject: 'sfu.producer.close',
    request: SfuProducerRefRequest,
    response: Ack,
    timeoutMs: 5000,
    description: 'Close a producer.',
  }),
  producerPause: defineRequest({
    subject: 'sfu.producer.pause',
    request: SfuProducerRefRequest,
    response: Ack,
    timeoutMs: 5000,
    description: 'Pause a producer (mute).',
  }),
  producerResume: defineRequest({
    subject: 'sfu.producer.resume',
    request: SfuProducerRefRequest,
    response: Ack,
    timeoutMs: 5000,
    description: 'Resume a producer.',
  }),
  consumerCreate: defineRequest({
    subject: 'sfu.consumer.create',
    request: SfuConsumerCreateRequest,
    response: SfuConsumerCreateResponse,
    timeoutMs: 5000,
    description:
      'Consume a producer on a recv transport; created paused, resume once the client is ready.',
  }),
  consumerResume: defineRequest({
    subject: 'sfu.consumer.resume',
    request: SfuConsumerRefRequest,
    response: Ack,
    timeoutMs: 5000,
    description: 'Resume a consumer.',
  }),
  consumerClose: defineRequest({
    subject: 'sfu.consumer.close',
    request: SfuConsumerRefRequest,
    response: Ack,
    timeoutMs: 5000,
    description: 'Close a consumer.',
  }),
  peerClose: defineRequest({
    subject: 'sfu.peer.close',
    request: SfuPeerCloseRequest,
    response: Ack,
    timeoutMs: 5000,
    description: 'Close everything a peer owns (leave).',
  }),
} as const;

export const ProducerOpenedEvent = z.object({
  roomId: RoomId,
  peerId: z.string(),
  producerId: EntityId,
  kind: MediaKind,
  paused: z.boolean(),
});
export const ProducerClosedEvent = z.object({
  roomId: RoomId,
  peerId: z.string(),
  producerId: EntityId,
});
export const TransportFailedEvent = z.object({
  roomId: RoomId,
  peerId: PeerId,
  transportId: EntityId,
  state: z.string(),
});
export const RoomResetEvent = z.object({
  roomId: RoomId,
  reason: z.enum(['worker_died', 'closed', 'idle']),
  nodeId: z.string(),
});
export const WorkerReplacedEvent = z.object({
  nodeId: z.string(),
  deadPid: z.number().int(),
  newPid: z.number().int(),
  rooms: z.array(RoomId),
});
export const ActiveSpeakerEvent = z.object({
  roomId: RoomId,
  /** Loudest peer now, or null when the room went silent. */
  peerId: z.string().nullable(),
  volumes: z.array(z.object({ peerId: z.string(), dBov: z.number() })),
});

/** Events of the SFU (room events carry the room id as a trailing token). */
export const sfuEvents = {
  producerOpened: defineEvent({
    subject: 'sfu.producer.opened',
    payload: ProducerOpenedEvent,
    description: 'A producer appeared in a room (.<roomId>).',
  }),
  producerClosed: defineEvent({
    subject: 'sfu.producer.closed',
    payload: ProducerClosedEvent,
    description: 'A producer left a room (.<roomId>).',
  }),
  transportFailed: defineEvent({
    subject: 'sfu.transport.failed',
    payload: TransportFailedEvent,
    description: 'A peer transport failed or disconnected (.<roomId>).',
  }),
  roomReset: defineEvent({
    subject: 'sfu.room.reset',
    payload: RoomResetEvent,
    description: 'A room was re-created or closed; its peers must reconnect (.<roomId>).',
  }),
  workerReplaced: defineEvent({
    subject: 'sfu.worker.replaced',
    payload: WorkerReplacedEvent,
    description: 'A mediasoup worker died and was replaced.',
  }),
  activeSpeaker: defineEvent({
    subject: 'sfu.speaker.changed',
    payload: ActiveSpeakerEvent,
    description: 'Active speaker and audio levels (.<roomId>).',
  }),
} as const;

registerContracts(...Object.values(sfuContracts), ...Object.values(sfuEvents));
